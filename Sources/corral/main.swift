import CorralCommands

await CorralCommand.runMain()
