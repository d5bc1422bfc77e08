import CorralAPI
import CorralCore
import CorralEngine
import Foundation
import Hummingbird

/// Corral's extensions for reaching inside a running instance: exec and files.
struct ExecRoutes: Sendable {
    let engine: InstanceEngine
    static let maximumExecWait: Duration = .seconds(3600)

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        v1.post("instances/:id/exec") { request, context in
            await APIResponse.handle { try await exec(request, id: try context.parameters.require("id")) }
        }
        v1.post("instances/:id/exec/attach") { request, context in
            await APIResponse.handle { try await attach(request, id: try context.parameters.require("id")) }
        }
        v1.get("instances/:id/files") { request, context in
            await APIResponse.handle { try await readFile(request, id: try context.parameters.require("id")) }
        }
        v1.put("instances/:id/files") { request, context in
            await APIResponse.handle { try await writeFile(request, id: try context.parameters.require("id")) }
        }
    }

    private func exec(_ request: Request, id: String) async throws -> Response {
        let started = ContinuousClock.now
        let body = try StrictJSON.decode(ExecRequestDTO.self, from: try await InstanceRoutes.body(request))
        let stdin = try Self.base64(body.stdin, field: "stdin")
        let timeout = try InstanceRoutes.timeout(milliseconds: nil, seconds: body.timeoutS) ?? .seconds(60)
        let record = try await engine.get(id)
        let result = try await engine.exec(id, ExecRequest(
            command: body.command, env: body.env ?? [:], workingDirectory: body.cwd, stdin: stdin,
            timeout: min(timeout, Self.maximumExecWait)
        ))
        let dto = ExecResultDTO(
            uuid: record.uuid.uuidString.lowercased(), name: record.name, exitCode: Int(result.exitCode),
            stdout: Data(result.stdout).base64EncodedString(), stderr: Data(result.stderr).base64EncodedString()
        )
        return APIResponse.success(dto, started: started)
    }

    private func readFile(_ request: Request, id: String) async throws -> Response {
        let started = ContinuousClock.now
        guard let path = request.uri.queryParameters.get("path"), path.hasPrefix("/") else {
            throw CorralError.invalidArgument("invalid query 'path': an absolute path inside the instance is required")
        }
        let bytes = try await engine.readFile(id, path: path)
        return APIResponse.success(InstanceFileDTO(path: path, content: Data(bytes).base64EncodedString()), started: started)
    }

    private func writeFile(_ request: Request, id: String) async throws -> Response {
        let started = ContinuousClock.now
        let body = try StrictJSON.decode(InstanceFileDTO.self, from: try await InstanceRoutes.body(request))
        guard body.path.hasPrefix("/") else {
            throw CorralError.invalidArgument("invalid field 'path' '\(body.path)': must be absolute inside the instance")
        }
        let mode = body.mode ?? 0o644
        guard (0...0o7777).contains(mode) else {
            throw CorralError.invalidArgument("invalid field 'mode' \(mode): must be permission bits (0 to 0o7777)")
        }
        let contents = try Self.base64(body.content, field: "content")
        try await engine.writeFile(id, path: body.path, contents: contents, mode: UInt32(mode))
        return APIResponse.success(InstanceFileDTO(path: body.path, content: "", mode: mode), started: started)
    }

    private static func base64(_ text: String?, field: String) throws(CorralError) -> [UInt8] {
        guard let text, !text.isEmpty else { return [] }
        guard let data = Data(base64Encoded: text) else {
            throw .invalidArgument("invalid field '\(field)': expected base64")
        }
        return [UInt8](data)
    }
}
