/// The digest an instance's image reference is pinned to. The API pins every
/// reference at create (`name@sha256:<hex>`); drivers that run images refuse one
/// that is not pinned.
public enum PinnedImage {
    /// `sha256:<hex>` of `name@sha256:<hex>` or `sha256:<hex>`; throws
    /// `invalidArgument` naming the field otherwise. `driver` names the caller in
    /// the message.
    public static func digest(_ image: String?, driver: String) throws(CorralError) -> String {
        guard let image, !image.isEmpty else {
            throw .invalidArgument("invalid field 'image': the \(driver) driver needs an image")
        }
        guard let range = image.range(of: "sha256:", options: .backwards),
            range.lowerBound == image.startIndex || image[image.index(before: range.lowerBound)] == "@"
        else {
            throw .invalidArgument("invalid field 'image' '\(image)': must be pinned to a digest (name@sha256:<hex>)")
        }
        let hex = image[range.upperBound...]
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw .invalidArgument("invalid field 'image' '\(image)': the digest must be 64 lowercase hex digits")
        }
        return "sha256:\(hex)"
    }
}
