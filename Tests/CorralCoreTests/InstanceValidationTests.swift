import CorralCore
import Testing

private func spec(
    memoryMB: Int = 128,
    vcpus: Int = 1,
    env: [String: String] = [:],
    args: [String] = ["/bin/server"],
    policy: RestartPolicy = .never,
    features: [InstanceFeature] = []
) -> InstanceSpec {
    InstanceSpec(
        driver: "process",
        args: args,
        env: env,
        memoryMB: memoryMB,
        vcpus: vcpus,
        restartPolicy: policy,
        features: features
    )
}

private func nameError(_ name: String, field: String = "name") -> CorralError? {
    do {
        try InstanceValidation.validateName(name, field: field)
        return nil
    } catch {
        return error
    }
}

private func specError(_ spec: InstanceSpec, limits: InstanceLimits = InstanceLimits()) -> CorralError? {
    do {
        try InstanceValidation.validate(spec, limits: limits)
        return nil
    } catch {
        return error
    }
}

@Suite("InstanceValidation")
struct InstanceValidationTests {
    @Test(arguments: ["a", "0", "web", "web-1", "1-web", "a-b-c", "x0y1z2", String(repeating: "a", count: 63)])
    func validNames(_ name: String) {
        #expect(nameError(name) == nil)
    }

    @Test(arguments: [
        ("", "invalid name: must not be empty"),
        (String(repeating: "a", count: 64), "invalid name '\(String(repeating: "a", count: 64))': longer than 63 characters"),
        ("Web", "invalid name 'Web': only lowercase letters, digits and '-' are allowed"),
        ("WEB", "invalid name 'WEB': only lowercase letters, digits and '-' are allowed"),
        ("web_1", "invalid name 'web_1': only lowercase letters, digits and '-' are allowed"),
        ("web.internal", "invalid name 'web.internal': only lowercase letters, digits and '-' are allowed"),
        ("wéb", "invalid name 'wéb': only lowercase letters, digits and '-' are allowed"),
        ("web 1", "invalid name 'web 1': only lowercase letters, digits and '-' are allowed"),
        ("-web", "invalid name '-web': must start and end with a letter or digit"),
        ("web-", "invalid name 'web-': must start and end with a letter or digit"),
        ("-", "invalid name '-': must start and end with a letter or digit"),
    ])
    func invalidNames(_ name: String, message: String) {
        let error = nameError(name)
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == message)
    }

    @Test("the length limit counts bytes, not characters")
    func lengthCountsBytes() {
        // 62 ASCII bytes plus one two-byte character: 63 characters, 64 bytes.
        let name = String(repeating: "a", count: 62) + "é"
        #expect(nameError(name)?.message.hasSuffix("longer than 63 characters") == true)
    }

    @Test("the error names the field it was given")
    func nameErrorNamesField() {
        #expect(nameError("", field: "service_group.name")?.message == "invalid service_group.name: must not be empty")
    }

    @Test(arguments: [4, 128, 65_536])
    func memoryWithinBounds(_ memoryMB: Int) {
        #expect(specError(spec(memoryMB: memoryMB)) == nil)
    }

    @Test(arguments: [-1, 0, 3, 65_537])
    func memoryOutOfBounds(_ memoryMB: Int) {
        let error = specError(spec(memoryMB: memoryMB))
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid memory_mb \(memoryMB): must be between 4 and 65536")
    }

    @Test(arguments: [1, 2, 64])
    func vcpusWithinBounds(_ vcpus: Int) {
        #expect(specError(spec(vcpus: vcpus)) == nil)
    }

    @Test(arguments: [-1, 0, 65])
    func vcpusOutOfBounds(_ vcpus: Int) {
        let error = specError(spec(vcpus: vcpus))
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid vcpus \(vcpus): must be between 1 and 64")
    }

    @Test("limits come from the configuration")
    func configuredLimits() {
        let limits = InstanceLimits(memoryMB: 64...1_024, vcpus: 1...4)
        #expect(specError(spec(memoryMB: 32), limits: limits)?.message == "invalid memory_mb 32: must be between 64 and 1024")
        #expect(specError(spec(vcpus: 8), limits: limits)?.message == "invalid vcpus 8: must be between 1 and 4")
        #expect(specError(spec(memoryMB: 1_024, vcpus: 4), limits: limits) == nil)
    }

    @Test(arguments: ["A=B", "=", "", "A\u{0}B"])
    func invalidEnvKeys(_ key: String) {
        let error = specError(spec(env: [key: "value"]))
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid env key '\(key)': must be non-empty without '=' or NUL")
    }

    @Test("env values may hold '=' but not NUL; args may not hold NUL")
    func envValuesAndArgs() {
        #expect(specError(spec(env: ["OPTS": "a=b=c", "EMPTY": ""])) == nil)
        #expect(specError(spec(env: ["K": "a\u{0}b"]))?.message == "invalid env value: must not contain NUL")
        #expect(specError(spec(args: ["/bin/sh", "-c", "a\u{0}b"]))?.message == "invalid args: an argument contains NUL")
    }

    @Test(arguments: [RestartPolicy.always, .onFailure])
    func deleteOnStopExcludesRestarts(_ policy: RestartPolicy) {
        let error = specError(spec(policy: policy, features: [.deleteOnStop]))
        #expect(error?.code == .invalidArgument)
        #expect(error?.message == "invalid features: delete-on-stop cannot be combined with restart_policy \(policy.rawValue)")
    }

    @Test("delete-on-stop with restart policy never is valid")
    func deleteOnStopWithNever() {
        #expect(specError(spec(policy: .never, features: [.deleteOnStop])) == nil)
    }
}
