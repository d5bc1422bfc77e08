import CorralAPI

/// Prints the outcome of a batch: each succeeded item's name on standard
/// output, each failure as `corral: <name>: <message>` on standard error.
///
/// - Throws: `CommandFailure` with the gravest item's exit code when any item failed.
func reportBatch<Item: BatchItemResult>(_ items: [Item], requested: [String], json: Bool) throws {
    try reportAny(items.map { $0 as any BatchItemResult }, requested: requested, json: json)
}

/// `NameOrUUID` for a command-line identifier: a UUID when it looks like one, else a name.
func reference(_ identifier: String) -> NameOrUUID {
    let hex = identifier.filter { $0 != "-" }
    let isUUID =
        identifier.count == 36 && hex.count == 32
        && hex.allSatisfy { $0.isHexDigit }
        && [8, 13, 18, 23].allSatisfy { identifier[identifier.index(identifier.startIndex, offsetBy: $0)] == "-" }
    return isUUID ? .uuid(identifier) : .name(identifier)
}
