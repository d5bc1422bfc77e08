/// The message type byte of a frame. Values are wire constants, chosen once.
public enum AgentMessageType: UInt8, Sendable, CaseIterable {
    case ready = 1
    case exec = 2
    case execResult = 3
    case readFile = 4
    case fileData = 5
    case writeFile = 6
    case ok = 7
    case metricsRequest = 8
    case metrics = 9
    case shutdown = 10
    case workloadExited = 11
    case error = 12
    case configure = 13
    case sessionStart = 14
    case sessionInput = 15
    case sessionCloseInput = 16
    case sessionResize = 17
    case sessionSignal = 18
    case sessionClose = 19
    case sessionOutput = 20
    case sessionExited = 21
    case sessionWindow = 22
}
