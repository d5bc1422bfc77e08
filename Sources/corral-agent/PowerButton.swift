import Glibc

/// The ACPI power button as an input device: QEMU's `system_powerdown` (the
/// host's fallback when the agent channel is not answering) presses it, and the
/// agent turns the press into a graceful stop. Needs the `button` and `evdev`
/// modules (or both built in); without them there is no button to watch.
struct PowerButton {
    let fd: Int32

    /// `KEY_POWER` of linux/input-event-codes.h, and the event type of keys.
    static let keyPower: UInt16 = 116
    static let eventKey: UInt16 = 1

    /// Opens the input device named "Power Button", or nil when there is none.
    static func open() -> PowerButton? {
        for name in (try? GuestDirectory.entries("/sys/class/input")) ?? [] where name.hasPrefix("event") {
            guard let label = try? GuestFiles.read(path: "/sys/class/input/\(name)/device/name", limit: 256),
                String(decoding: label, as: UTF8.self).trimmingWhitespace() == "Power Button"
            else { continue }
            let fd = Glibc.open("/dev/input/\(name)", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if fd >= 0 { return PowerButton(fd: fd) }
        }
        return nil
    }

    /// Reads the pending events; true when one of them is a press of the button.
    /// A 64-bit `struct input_event` is 24 bytes: a timeval, then type (u16), code
    /// (u16) and value (s32) in the machine's byte order.
    func pressed() -> Bool {
        let size = 24
        var events = [UInt8](repeating: 0, count: size * 16)
        var pressed = false
        while true {
            let count = events.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < size { return pressed }
            for offset in stride(from: 0, to: count - size + 1, by: size) {
                let (type, code, value) = events.withUnsafeBytes { raw in
                    (
                        raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt16.self),
                        raw.loadUnaligned(fromByteOffset: offset + 18, as: UInt16.self),
                        raw.loadUnaligned(fromByteOffset: offset + 20, as: Int32.self)
                    )
                }
                if type == Self.eventKey, code == Self.keyPower, value == 1 { pressed = true }
            }
        }
    }
}
