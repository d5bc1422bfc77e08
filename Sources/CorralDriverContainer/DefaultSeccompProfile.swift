/// The seccomp filter every container runs under: everything is allowed except the
/// system calls Docker's default profile denies to a container without extra
/// capabilities, which fail with `EPERM`.
///
/// A deny list rather than Docker's allow list of ~350 names: it stays readable,
/// and a system call newer than this list works instead of failing mysteriously.
/// What is denied, and why:
/// - the kernel itself: module loading (`init_module`, `finit_module`,
///   `delete_module`, …), `kexec_load`, `kexec_file_load`, `reboot`, `swapon`,
///   `swapoff`, `acct`, `quotactl`, `syslog`, `vhangup`, `iopl`, `ioperm`, the
///   clock setters, and obsolete calls (`uselib`, `ustat`, `sysfs`, `_sysctl`,
///   `nfsservctl`, `vm86`, …);
/// - attack surface unprivileged code does not need: `bpf`, `perf_event_open`,
///   `userfaultfd`, `io_uring_*`, the key ring (`add_key`, `request_key`,
///   `keyctl`), `lookup_dcookie`, the NUMA policy calls;
/// - reaching outside the container: `open_by_handle_at` (the "shocker" escape),
///   `name_to_handle_at`, `process_vm_readv`/`writev`, `kcmp`;
/// - changing the container's own isolation: `mount`, `umount2`, the new mount API
///   (`fsopen`, `fsmount`, `move_mount`, `open_tree`, …), `pivot_root`, `setns`,
///   `unshare`, and `clone` with any namespace flag. `clone3` fails with `ENOSYS`,
///   as under Docker, since its flags sit in memory a filter cannot read; libc then
///   falls back to `clone`.
///
/// Allowed on purpose: `ptrace` (the seccomp bypass through it was fixed in Linux
/// 4.8, as Docker reasons), `personality` (Docker's argument filter on it guards
/// only against `READ_IMPLIES_EXEC`-style personas, which a deny list cannot
/// express), `chroot` (granted by `CAP_SYS_CHROOT`).
enum DefaultSeccompProfile {
    static let deniedSyscalls = [
        "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
        "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
        "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp",
        "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "migrate_pages", "mount",
        "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
        "open_tree", "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "query_module",
        "quotactl", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday", "stime", "swapoff",
        "swapon", "_sysctl", "sysfs", "syslog", "umount", "umount2", "unshare", "uselib", "userfaultfd",
        "ustat", "vhangup", "vm86", "vm86old",
    ]

    /// `CLONE_NEWNS`, `CLONE_NEWCGROUP`, `CLONE_NEWUTS`, `CLONE_NEWIPC`,
    /// `CLONE_NEWUSER`, `CLONE_NEWPID`, `CLONE_NEWNET`.
    static let namespaceCloneFlags: [UInt64] = [
        0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000,
    ]

    static let eperm: UInt32 = 1
    static let enosys: UInt32 = 38

    /// The profile for the architecture Corral was built for (and its 32-bit
    /// compatibility modes, which would otherwise bypass the filter).
    static var profile: OCIRuntimeSpec.Seccomp {
        var rules = [OCIRuntimeSpec.SyscallRule(names: deniedSyscalls, action: "SCMP_ACT_ERRNO", errnoRet: eperm)]
        // `clone` takes its flags in the first argument on every architecture Corral builds for.
        for flag in namespaceCloneFlags {
            rules.append(OCIRuntimeSpec.SyscallRule(
                names: ["clone"], action: "SCMP_ACT_ERRNO", errnoRet: eperm,
                args: [OCIRuntimeSpec.SyscallArgument(index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ")]
            ))
        }
        rules.append(OCIRuntimeSpec.SyscallRule(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: enosys))
        return OCIRuntimeSpec.Seccomp(defaultAction: "SCMP_ACT_ALLOW", architectures: architectures, syscalls: rules)
    }

    static var architectures: [String] {
        #if arch(x86_64)
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        #elseif arch(arm64)
        ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        #else
        []
        #endif
    }
}
