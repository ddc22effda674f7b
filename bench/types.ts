/** One measured figure. */
export interface BenchRow {
    suite: string
    name: string
    value: number
    unit: string
    /** What the figure should reach, in words (`>= 95%`), when there is a goal. */
    goal?: string
    /** Whether the goal was met; undefined without a goal. */
    pass?: boolean
    /** Anything a reader needs to interpret the figure (model, sizes, threads). */
    note?: string
}

/** A benchmark suite: `bench/suites/<name>.ts` exporting `suite`. */
export interface BenchSuite {
    name: string
    description: string
    run(context: BenchContext): Promise<BenchRow[]>
}

export interface BenchContext {
    /** Scratch folder for generated models and files, kept between runs to save regeneration. */
    workDir: string
    /** Progress lines for the person waiting. */
    log(line: string): void
}
