#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

exit(Shim.run(arguments: CommandLine.arguments))
