import Testing
@testable import CorralVMAssets
