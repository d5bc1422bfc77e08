import Foundation

/// One item of the answer to start, stop, suspend and delete: the state the
/// instance left and the one it is in now (`delete` reports only the former).
public struct InstanceStateChangeDTO: BatchItemResult, Equatable {
    public var status: ResponseStatus?
    public var message: String?
    public var error: Int?
    public var uuid: String?
    public var name: String?
    public var state: WireInstanceState?
    public var previousState: WireInstanceState?

    public init(
        status: ResponseStatus? = nil, message: String? = nil, error: Int? = nil, uuid: String? = nil,
        name: String? = nil, state: WireInstanceState? = nil, previousState: WireInstanceState? = nil
    ) {
        self.status = status
        self.message = message
        self.error = error
        self.uuid = uuid
        self.name = name
        self.state = state
        self.previousState = previousState
    }

    enum CodingKeys: String, CodingKey {
        case status, message, error, uuid, name, state
        case previousState = "previous_state"
    }
}

/// One item of the answer to a wait: the state the instance was in when the wait ended.
public struct WaitedInstanceDTO: BatchItemResult, Equatable {
    public var status: ResponseStatus?
    public var message: String?
    public var error: Int?
    public var uuid: String?
    public var name: String?
    public var state: WireInstanceState?

    public init(
        status: ResponseStatus? = nil, message: String? = nil, error: Int? = nil, uuid: String? = nil,
        name: String? = nil, state: WireInstanceState? = nil
    ) {
        self.status = status
        self.message = message
        self.error = error
        self.uuid = uuid
        self.name = name
        self.state = state
    }

    enum CodingKeys: String, CodingKey {
        case status, message, error, uuid, name, state
    }
}

/// One item of the answer to a log request.
///
/// `output` is base64 on the wire, as in Unikraft Cloud; `range` is the byte
/// range it covers and `available` the range the log still holds. The next
/// read of a follower starts at `range.end`.
public struct InstanceLogsDTO: BatchItemResult, Equatable {
    public var status: ResponseStatus?
    public var message: String?
    public var error: Int?
    public var uuid: String?
    public var name: String?
    public var output: String?
    public var available: ByteRange?
    public var range: ByteRange?
    public var state: WireInstanceState?

    public init(
        status: ResponseStatus? = nil, message: String? = nil, error: Int? = nil, uuid: String? = nil,
        name: String? = nil, output: String? = nil, available: ByteRange? = nil, range: ByteRange? = nil,
        state: WireInstanceState? = nil
    ) {
        self.status = status
        self.message = message
        self.error = error
        self.uuid = uuid
        self.name = name
        self.output = output
        self.available = available
        self.range = range
        self.state = state
    }

    /// Builds an answer carrying `bytes` base64-encoded in `output`.
    public init(
        uuid: String?, name: String?, bytes: Data, available: ByteRange, range: ByteRange, state: WireInstanceState?
    ) {
        self.init(
            uuid: uuid, name: name, output: bytes.base64EncodedString(), available: available, range: range,
            state: state)
    }

    /// The log bytes: `output` base64-decoded; `nil` when absent or not base64.
    public var outputBytes: Data? {
        output.flatMap { Data(base64Encoded: $0) }
    }

    enum CodingKeys: String, CodingKey {
        case status, message, error, uuid, name, output, available, range, state
    }

    /// A half-open byte range `[start, end)` of the log.
    public struct ByteRange: Codable, Sendable, Equatable {
        public var start: Int?
        public var end: Int?

        public init(start: Int? = nil, end: Int? = nil) {
            self.start = start
            self.end = end
        }

        enum CodingKeys: String, CodingKey {
            case start, end
        }
    }
}

/// One item of the answer to a metrics request.
public struct InstanceMetricsDTO: BatchItemResult, Equatable {
    public var status: ResponseStatus?
    public var message: String?
    public var error: Int?
    public var uuid: String?
    public var name: String?
    /// Resident memory of the workload, in bytes.
    public var rssBytes: Int?
    /// CPU time consumed, in milliseconds.
    public var cpuTimeMs: Int?
    public var bootTimeUs: Int?
    public var netTimeUs: Int?
    public var rxBytes: Int?
    public var rxPackets: Int?
    public var txBytes: Int?
    public var txPackets: Int?
    public var nconns: Int?
    public var nreqs: Int?
    public var nqueued: Int?
    public var ntotal: Int?

    public init(
        status: ResponseStatus? = nil, message: String? = nil, error: Int? = nil, uuid: String? = nil,
        name: String? = nil, rssBytes: Int? = nil, cpuTimeMs: Int? = nil, bootTimeUs: Int? = nil,
        netTimeUs: Int? = nil, rxBytes: Int? = nil, rxPackets: Int? = nil, txBytes: Int? = nil,
        txPackets: Int? = nil, nconns: Int? = nil, nreqs: Int? = nil, nqueued: Int? = nil, ntotal: Int? = nil
    ) {
        self.status = status
        self.message = message
        self.error = error
        self.uuid = uuid
        self.name = name
        self.rssBytes = rssBytes
        self.cpuTimeMs = cpuTimeMs
        self.bootTimeUs = bootTimeUs
        self.netTimeUs = netTimeUs
        self.rxBytes = rxBytes
        self.rxPackets = rxPackets
        self.txBytes = txBytes
        self.txPackets = txPackets
        self.nconns = nconns
        self.nreqs = nreqs
        self.nqueued = nqueued
        self.ntotal = ntotal
    }

    enum CodingKeys: String, CodingKey {
        case status, message, error, uuid, name
        case rssBytes = "rss_bytes"
        case cpuTimeMs = "cpu_time_ms"
        case bootTimeUs = "boot_time_us"
        case netTimeUs = "net_time_us"
        case rxBytes = "rx_bytes"
        case rxPackets = "rx_packets"
        case txBytes = "tx_bytes"
        case txPackets = "tx_packets"
        case nconns, nreqs, nqueued, ntotal
    }
}

/// One item of the answer to an update; `id` echoes the request's.
public struct UpdatedInstanceDTO: BatchItemResult, Equatable {
    public var status: ResponseStatus?
    public var message: String?
    public var error: Int?
    public var uuid: String?
    public var name: String?
    public var id: String?

    public init(
        status: ResponseStatus? = nil, message: String? = nil, error: Int? = nil, uuid: String? = nil,
        name: String? = nil, id: String? = nil
    ) {
        self.status = status
        self.message = message
        self.error = error
        self.uuid = uuid
        self.name = name
        self.id = id
    }

    enum CodingKeys: String, CodingKey {
        case status, message, error, uuid, name, id
    }
}
