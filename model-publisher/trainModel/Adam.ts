export interface AdamOptions {
    /** Decay of the gradient's running mean. Defaults to 0.9. */
    beta1?: number
    /** Decay of the squared gradient's running mean. Defaults to 0.95: small models trained briefly settle faster than with 0.999. */
    beta2?: number
    /** Added to the root of the second moment. Defaults to 1e-8. */
    epsilon?: number
}

/** Adam over one flat parameter array, updated in place. */
export class Adam {
    readonly #mean: Float32Array
    readonly #square: Float32Array
    readonly #beta1: number
    readonly #beta2: number
    readonly #epsilon: number
    #steps = 0

    public constructor(parameterCount: number, {beta1 = 0.9, beta2 = 0.95, epsilon = 1e-8}: AdamOptions = {}) {
        this.#mean = new Float32Array(parameterCount)
        this.#square = new Float32Array(parameterCount)
        this.#beta1 = beta1
        this.#beta2 = beta2
        this.#epsilon = epsilon
    }

    /** One step of size `learningRate` against `gradient`. */
    public step(parameters: Float32Array, gradient: Float32Array, learningRate: number): void {
        this.#steps++
        const beta1 = this.#beta1
        const beta2 = this.#beta2
        const mean = this.#mean
        const square = this.#square
        // Bias correction folded into the step size, as in the Adam paper's last formulation.
        const stepSize = (learningRate * Math.sqrt(1 - beta2 ** this.#steps)) / (1 - beta1 ** this.#steps)
        for (let i = 0; i < parameters.length; i++) {
            const g = gradient[i]!
            const m = (mean[i] = beta1 * mean[i]! + (1 - beta1) * g)
            const v = (square[i] = beta2 * square[i]! + (1 - beta2) * g * g)
            parameters[i]! -= (stepSize * m) / (Math.sqrt(v) + this.#epsilon)
        }
    }
}
