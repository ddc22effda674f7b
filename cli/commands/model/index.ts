import {Command} from "commander"
import {convertCommand} from "./convert.ts"
import {inspectCommand} from "./inspect.ts"
import {makeTestCommand} from "./makeTest.ts"
import {infoCommand, listCommand, publishCommand, pullCommand} from "./registryCommands.ts"

export function modelCommand() {
    return new Command("model")
        .description("generate, inspect, convert, publish and pull GGUF models")
        .addCommand(makeTestCommand())
        .addCommand(inspectCommand())
        .addCommand(convertCommand())
        .addCommand(publishCommand())
        .addCommand(pullCommand())
        .addCommand(listCommand())
        .addCommand(infoCommand())
}
