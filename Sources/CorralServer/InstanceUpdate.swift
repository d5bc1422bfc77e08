import CorralAPI
import CorralCore

/// Turns a wire `{prop, op, value}` change into an edit of an instance record.
/// Properties that shape the running workload change only while it is stopped.
enum InstanceUpdate {
    typealias Change = @Sendable (inout InstanceRecord) throws(CorralError) -> Void

    static func change(for body: UpdateInstanceRequestBody) throws(CorralError) -> Change {
        let op = body.op
        let value = body.value ?? .null
        switch body.prop {
        case .args:
            let args = try stringList(value, field: "args")
            guard op == .set else { throw unsupportedOperation(op, "args") }
            guard !args.isEmpty else { throw .invalidArgument("invalid field 'value': args must not be empty") }
            return { (record) throws(CorralError) in
                try requireStopped(record, "args")
                record.spec.args = args
            }
        case .env:
            let change = try mapChange(op, value, field: "env")
            return { (record) throws(CorralError) in
                try requireStopped(record, "env")
                change(&record.spec.env)
            }
        case .memoryMB:
            guard op == .set, let memory = value.intValue else {
                throw .invalidArgument("invalid field 'value': memory_mb takes op 'set' with an integer")
            }
            return { (record) throws(CorralError) in
                try requireStopped(record, "memory_mb")
                record.spec.memoryMB = memory
            }
        case .vcpus:
            guard op == .set, let vcpus = value.intValue else {
                throw .invalidArgument("invalid field 'value': vcpus takes op 'set' with an integer")
            }
            return { (record) throws(CorralError) in
                try requireStopped(record, "vcpus")
                record.spec.vcpus = vcpus
            }
        case .tags:
            let tags = try stringList(value, field: "tags")
            return { (record) throws(CorralError) in
                switch op {
                case .set: record.spec.tags = tags
                case .add: record.spec.tags += tags.filter { !record.spec.tags.contains($0) }
                case .del: record.spec.tags.removeAll { tags.contains($0) }
                }
            }
        case .annotations:
            let change = try mapChange(op, value, field: "annotations")
            return { (record) throws(CorralError) in change(&record.spec.annotations) }
        case .deleteLock:
            guard op == .set, case .bool(let locked) = value else {
                throw .invalidArgument("invalid field 'value': delete_lock takes op 'set' with a boolean")
            }
            return { (record) throws(CorralError) in record.spec.deleteLock = locked }
        default:
            throw .unsupported("unsupported field 'prop': '\(body.prop.rawValue)' cannot be changed yet")
        }
    }

    private static func requireStopped(_ record: InstanceRecord, _ field: String) throws(CorralError) {
        guard case .stopped = record.observed.phase else {
            throw .invalidState("failed to update '\(field)' of instance '\(record.name)': it is \(record.state.rawValue); stop it first")
        }
    }

    private static func unsupportedOperation(_ op: WireUpdateOperation, _ field: String) -> CorralError {
        .invalidArgument("invalid field 'op': '\(op.rawValue)' is not allowed for \(field)")
    }

    private static func stringList(_ value: JSONValue, field: String) throws(CorralError) -> [String] {
        switch value {
        case .string(let single): return [single]
        case .array(let items):
            var out: [String] = []
            for item in items {
                guard case .string(let text) = item else {
                    throw .invalidArgument("invalid field 'value': \(field) takes strings")
                }
                out.append(text)
            }
            return out
        default:
            throw .invalidArgument("invalid field 'value': \(field) takes a string or a list of strings")
        }
    }

    /// `set` replaces the map, `add` merges keys over it, `del` removes keys (given
    /// as a list of names or as a map whose values are ignored).
    private static func mapChange(
        _ op: WireUpdateOperation, _ value: JSONValue, field: String
    ) throws(CorralError) -> @Sendable (inout [String: String]) -> Void {
        switch (op, value) {
        case (.set, .object(let object)), (.add, .object(let object)):
            var map: [String: String] = [:]
            for (key, item) in object {
                guard case .string(let text) = item else {
                    throw .invalidArgument("invalid field 'value.\(key)': \(field) values are strings")
                }
                map[key] = text
            }
            let replace = op == .set
            let entries = map
            return { target in
                if replace { target = entries } else { target.merge(entries) { $1 } }
            }
        case (.del, .object(let object)):
            let keys = Array(object.keys)
            return { target in for key in keys { target.removeValue(forKey: key) } }
        case (.del, _):
            let keys = try stringList(value, field: field)
            return { target in for key in keys { target.removeValue(forKey: key) } }
        default:
            throw .invalidArgument("invalid field 'value': \(field) takes an object of strings")
        }
    }
}
