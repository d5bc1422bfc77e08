import Testing
@testable import CorralDriverVM
