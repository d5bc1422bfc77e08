import Foundation
import Testing

@testable import CorralAPI

private func body(_ text: String) -> Data { Data(text.utf8) }

private func rejection<T: StrictDecodable>(_ type: T.Type, _ text: String) -> String? {
    do {
        _ = try StrictJSON.decode(type, from: body(text))
        return nil
    } catch {
        return error.description
    }
}

@Suite struct StrictJSONTests {
    @Test func acceptsAKnownCreateRequest() throws {
        let request = try StrictJSON.decode(
            CreateInstanceRequest.self,
            from: body(
                #"""
                {"name":"web","image":"nginx:latest","args":["-g","daemon off;"],"env":{"A":"1"},
                 "memory_mb":256,"vcpus":2,"autostart":true,"restart_policy":"on-failure",
                 "features":["delete-on-stop"],"tags":["a"],"driver":"process","timeout_s":5,
                 "volumes":[{"name":"data","at":"/data","size_mb":10}]}
                """#))
        #expect(request.name == "web")
        #expect(request.image == .reference("nginx:latest"))
        #expect(request.memoryMB == 256)
        #expect(request.restartPolicy == .onFailure)
        #expect(request.features == [.deleteOnStop])
        #expect(request.driver == "process")
        #expect(request.volumes?.first?.at == "/data")
        #expect(request.volumes?.first?.sizeMB == 10)
    }

    @Test func rejectsUnknownTopLevelField() {
        #expect(rejection(CreateInstanceRequest.self, #"{"name":"x","foo":1}"#) == "unknown field 'foo'")
    }

    @Test func rejectsUnknownNestedFieldWithPath() {
        #expect(
            rejection(CreateInstanceRequest.self, #"{"volumes":[{"at":"/a"},{"at":"/b","foo":true}]}"#)
                == "unknown field 'volumes[1].foo'")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"image":{"url":"x","pull":"always"}}"#)
                == "unknown field 'image.pull'")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"service_group":{"services":[{"port":80,"proto":"tcp"}]}}"#)
                == "unknown field 'service_group.services[0].proto'")
    }

    @Test func rejectsUnknownFieldInBatchItems() {
        #expect(
            rejection([StopInstancesRequestItem].self, #"[{"name":"a"},{"name":"b","grace":5}]"#)
                == "unknown field '[1].grace'")
        #expect(rejection([NameOrUUID].self, #"[{"id":"a"}]"#) == "unknown field '[0].id'")
    }

    @Test func reportsTheFirstUnknownFieldInSortedOrder() {
        #expect(rejection(StartInstanceRequestBody.self, #"{"zz":1,"bb":2,"timeout_s":1}"#) == "unknown field 'bb'")
    }

    @Test func rejectsMistypedFields() {
        #expect(
            rejection(CreateInstanceRequest.self, #"{"memory_mb":"lots"}"#)
                == "invalid field 'memory_mb': expected an integer")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"memory_mb":1.5}"#)
                == "invalid field 'memory_mb': expected an integer")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"args":"ls -l"}"#) == "invalid field 'args': expected an array")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"args":["a",2]}"#) == "invalid field 'args[1]': expected a string")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"env":{"A":1}}"#) == "invalid field 'env.A': expected a string")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"autostart":"yes"}"#)
                == "invalid field 'autostart': expected a boolean")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"image":5}"#)
                == "invalid field 'image': expected a string or an object")
        #expect(
            rejection(CreateInstanceRequest.self, #"{"restart_policy":"sometimes"}"#)
                == "invalid field 'restart_policy': expected one of never, always, on-failure")
    }

    @Test func reportsMissingRequiredFields() {
        #expect(rejection(WaitInstanceRequestBody.self, #"{"timeout_s":1}"#) == "missing field 'state'")
        #expect(rejection(CreateInstanceRequest.self, #"{"volumes":[{"name":"v"}]}"#) == "missing field 'volumes[0].at'")
        #expect(rejection(UpdateInstanceRequestBody.self, #"{"prop":"tags","op":null}"#) == "missing field 'op'")
    }

    @Test func rejectsBodiesOfTheWrongShape() {
        #expect(rejection([StartInstancesRequestItem].self, #"{"name":"a"}"#) == "invalid request body: expected an array")
        #expect(rejection(StopInstanceRequestBody.self, #"[]"#) == "invalid request body: expected an object")
        #expect(rejection(StopInstanceRequestBody.self, #"{"force":"#) == "invalid request body: not valid JSON")
        #expect(rejection(StopInstanceRequestBody.self, "null") == "invalid request body: expected an object")
    }

    @Test func nullMeansAbsent() throws {
        let request = try StrictJSON.decode(CreateInstanceRequest.self, from: body(#"{"name":null,"memory_mb":null}"#))
        #expect(request.name == nil)
        #expect(request.memoryMB == nil)
    }

    @Test func emptyBodyIsAbsentOnlyWhenAskedFor() throws {
        #expect(try StrictJSON.decodeIfPresent(StartInstanceRequestBody.self, from: body(" \n")) == nil)
        #expect(try StrictJSON.decodeIfPresent(StartInstanceRequestBody.self, from: body(#"{"timeout_s":3}"#))?.timeoutS == 3)
        #expect(rejection(StartInstanceRequestBody.self, "") == "invalid request body: not valid JSON")
    }

    @Test func updateValueIsFreeForm() throws {
        let update = try StrictJSON.decode(
            UpdateInstanceRequestBody.self, from: body(#"{"prop":"tags","op":"add","value":["a",{"b":[1,null]}]}"#))
        #expect(update.prop == .tags)
        #expect(update.op == .add)
        #expect(update.value == ["a", ["b": [1, nil]]])
    }

    @Test func fieldsListTheWireKeys() {
        #expect(StopInstanceRequestBody.fields == ["force", "drain_timeout_ms", "quick", "ifstate", "dump"])
        #expect(NameOrUUID.fields == ["uuid", "name"])
        #expect(CreateInstanceRequest.fields.contains("driver"))
        #expect(CreateInstanceRequest.fields.contains("restart_policy"))
    }
}
