import CorralCore
import Foundation
import Testing

@testable import CorralVMAssets

@Suite struct VMKernelTests {
    @Test func versionOfTheHostCloudKernelIsReadFromItsHeader() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        guard let name = names.filter({ $0.hasPrefix("vmlinuz-") }).sorted().last else {
            print("skipped: no /boot/vmlinuz-* on this host")
            return
        }
        let kernel = try VMKernel.at(path: "/boot/\(name)")
        #expect(kernel.version == String(name.dropFirst("vmlinuz-".count)))
        if FileManager.default.fileExists(atPath: "/lib/modules/\(name.dropFirst(8))") {
            #expect(kernel.modulesDirectory == "/lib/modules/\(name.dropFirst(8))")
        }
        let host = try VMKernel.hostDefault()
        #expect(host.path.hasPrefix("/boot/vmlinuz-"))
        #expect(try VMKernel.at(path: host.path).version == host.version)
    }

    @Test func headerParsingRejectsWhatIsNotABzImage() {
        #expect(VMKernel.bzImageVersion([UInt8](repeating: 0, count: 4096)) == nil)
        var header = [UInt8](repeating: 0, count: 4096)
        header.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        header[0x20E] = 0x00
        header[0x20F] = 0x02  // kernel_version at 0x200 + 0x200 = 0x400
        header.replaceSubrange(0x400..<0x416, with: Array("6.9.0-test (x@y) #1 S\0".utf8))
        #expect(VMKernel.bzImageVersion(header) == "6.9.0-test")
        header[0x20F] = 0x20  // points past the buffer
        #expect(VMKernel.bzImageVersion(header) == nil)
    }

    @Test func aMissingFileIsNotFound() {
        #expect(throws: CorralError.self) { try VMKernel.at(path: "/nonexistent/vmlinuz") }
        do {
            _ = try VMKernel.at(path: "/nonexistent/vmlinuz")
        } catch {
            #expect(error.code == .notFound)
        }
    }

    @Test func theNewestCloudKernelWinsThenTheNewestOfAny() throws {
        let boot = try ScratchDirectory()
        for name in ["vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-56-amd64"] {
            #expect(FileManager.default.createFile(atPath: "\(boot.path)/\(name)", contents: Data()))
        }
        #expect(try VMKernel.newest(in: boot.path, modulesRoot: "/nonexistent").path == "\(boot.path)/vmlinuz-6.1.0-56-amd64")
        for name in ["vmlinuz-6.1.0-9-cloud-amd64", "vmlinuz-6.1.0-10-cloud-amd64"] {
            #expect(FileManager.default.createFile(atPath: "\(boot.path)/\(name)", contents: Data()))
        }
        let chosen = try VMKernel.newest(in: boot.path, modulesRoot: "/nonexistent")
        #expect(chosen.path == "\(boot.path)/vmlinuz-6.1.0-10-cloud-amd64")
        #expect(chosen.version == "6.1.0-10-cloud-amd64")
        #expect(chosen.modulesDirectory == nil)
    }

    @Test func noKernelNamesThePackage() throws {
        let boot = try ScratchDirectory()
        do {
            _ = try VMKernel.newest(in: boot.path, modulesRoot: "/nonexistent")
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("linux-image-cloud-amd64"))
        }
    }

    @Test func versionsCompareNumerically() {
        #expect(VMKernel.versionOrder("6.1.0-9-cloud-amd64", "6.1.0-56-cloud-amd64"))
        #expect(!VMKernel.versionOrder("6.10.0-1", "6.9.0-1"))
        #expect(VMKernel.versionOrder("5.10.0-30", "6.1.0-1"))
    }
}
