import Foundation
import Testing
import TestSupport
@testable import TorchFiles

/// Checkpoints written by Python's `torch.save` (zip and legacy formats, and a big-endian zip),
/// loaded in Swift and compared with Python's own description of what it saved.
@Suite("Loading checkpoints written by PyTorch")
struct TorchFileLoadTests {
    /// Writes `objects.pth` (zip), `legacy.pth` (legacy format), `protocol4.pth` and
    /// `protocol5.pth` (zip with newer pickle protocols) and `big_endian.pth` into the folder
    /// given as argument, and prints the descriptions of the saved objects.
    static let writerScript = pythonDescribe + "\n" + #"""
import torch
import io, os, zipfile
folder = sys.argv[1]
torch.manual_seed(0)

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 3, 3)
        self.bn = torch.nn.BatchNorm1d(3)
        self.fc = torch.nn.Linear(3, 2)
    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean(-1))

net = Net()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.95 ** epoch)
net(torch.randn(4, 2, 5)).sum().backward()
optimizer.step()
scheduler.step()

def sample(dtype):
    if dtype == torch.bool:
        return torch.rand(2, 3) > 0.5
    if dtype == torch.uint8:
        return torch.randint(0, 256, (2, 3), dtype=torch.uint8)
    if dtype.is_floating_point:
        special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40], dtype=torch.float64)
        return torch.cat([special.to(dtype), (torch.randn(6, dtype=torch.float64) * 1000).to(dtype)]).reshape(3, 4)
    info = torch.iinfo(dtype)
    extremes = torch.tensor([info.min, info.max, 0, -1], dtype=dtype)
    return torch.cat([extremes, torch.randint(info.min, info.max, (4,), dtype=dtype)]).reshape(2, 4)

dtypes = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
          torch.int16, torch.int8, torch.uint8, torch.bool]
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
objects = {
    "state_dict": net.state_dict(),
    "dtypes": {str(d).replace("torch.", ""): sample(d) for d in dtypes},
    "values": {
        "ints": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -2**31, 2**31, -2**31 - 1, 2**62, 2**63 - 1, -2**63],
        "big ints": [2**63, -2**63 - 1, 2**100, -2**80, 10**40],
        "floats": (1.5, -0.0, float("inf"), float("-inf"), 1e-310, 1.0 / 3.0),
        "strings": ["", "plain", "héllo wörld ✓ 日本語 🎉", "line\nbreak \"quoted\" \\ back"],
        "none": None, "true": True, "false": False,
        "bytes": b"\x00\xffab\x80", "empty bytes": b"",
        "set": {3, 1, 2}, "frozenset": frozenset([7]),
        "nested": [[{"a": [None, (True, False)]}], ()],
        3: "an int key", (1, "t"): "a tuple key", -7: [],
        "empty dict": {}, "ordered": collections.OrderedDict([("z", 1), ("a", 2)]),
        "size": torch.Size([2, 3]), "device": torch.device("cpu"),
    },
    "shared": base,
    "row view": base[1],
    "transposed": base.t(),
    "sliced": base[1:3, 2:5],
    "zero-d": torch.tensor(3.25),
    "empty": torch.zeros(0, 3),
    "parameter": torch.nn.Parameter(torch.randn(3)),
    "frozen parameter": torch.nn.Parameter(torch.randn(2), requires_grad=False),
    "requires grad": torch.randn(2, requires_grad=True),
    "optimizer": optimizer.state_dict(),
    "scheduler": scheduler.state_dict(),
}
torch.save(objects, os.path.join(folder, "objects.pth"))
torch.save(objects, os.path.join(folder, "legacy.pth"), _use_new_zipfile_serialization=False)
torch.save(objects, os.path.join(folder, "protocol4.pth"), pickle_protocol=4)
torch.save(objects, os.path.join(folder, "protocol5.pth"), pickle_protocol=5)

# A big-endian checkpoint: PyTorch writes one only on a big-endian machine, so convert a
# little-endian one (storages are numbered in pickling order) and check that PyTorch reads it.
tensors = {str(d).replace("torch.", ""): sample(d) for d in dtypes}
buffer = io.BytesIO()
torch.save(tensors, buffer)
source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
sizes = [t.element_size() for t in tensors.values()]
big_path = os.path.join(folder, "big_endian.pth")
with zipfile.ZipFile(big_path, "w", zipfile.ZIP_STORED) as target:
    for info in source.infolist():
        data = source.read(info)
        folder_name, _, name = info.filename.partition("/")
        if name == "byteorder":
            data = b"big"
        elif name.startswith("data/"):
            size = sizes[int(name[5:])]
            data = b"".join(data[i:i + size][::-1] for i in range(0, len(data), size))
        target.writestr(info.filename, data)
reloaded = torch.load(big_path, weights_only=True)
for name, t in tensors.items():
    assert torch.equal(reloaded[name].view(torch.uint8), t.view(torch.uint8)), name

print(json.dumps({"objects": describe(objects), "big_endian": describe(tensors)}))
"""#

    @Test("zip, legacy, protocol 4 and 5, and big-endian files written by torch.save load exactly as saved")
    func loadsEverything() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-load")
        defer { try? FileManager.default.removeItem(at: folder) }
        let description = try #require(try pythonJSON(TorchFileLoadTests.writerScript, arguments: [folder.path]) as? [String: Any])

        for file in ["objects.pth", "legacy.pth", "protocol4.pth", "protocol5.pth"] {
            let value = try TorchFile.load(contentsOf: folder.appendingPathComponent(file))
            expectMatch(value, try #require(description["objects"]), file)

            // Spot checks through the accessors that later layers use.
            let stateDict = try #require(value["state_dict"]?.asTensorDictionary)
            #expect(stateDict.map(\.name) == ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean",
                                              "bn.running_var", "bn.num_batches_tracked", "fc.weight", "fc.bias"])
            let tracked = try #require(value["state_dict"]?["bn.num_batches_tracked"]?.asTensor)
            #expect(tracked.elementType == .int64 && tracked.shape == [])
            let shared = try #require(value["shared"]?.asTensor)
            let rowView = try #require(value["row view"]?.asTensor)
            #expect(shared.storage === rowView.storage)
            #expect(value["values"]?["none"]?.isNone == true)
            #expect(value["scheduler"]?["lr_lambdas"]?[0]?.isNone == true)
            #expect(value["optimizer"]?["state"]?[key: 0]?["exp_avg"]?.asTensor?.shape == [3, 2, 3])
        }

        let bigEndian = try TorchFile.load(contentsOf: folder.appendingPathComponent("big_endian.pth"))
        expectMatch(bigEndian, try #require(description["big_endian"]), "big_endian.pth")
    }

    @Test("checkpoints that would run code, TorchScript archives and re-compressed zips are refused; nothing runs")
    func refusesWhatIsNotData() throws {
        try requirePython()
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-refused")
        defer { try? FileManager.default.removeItem(at: folder) }
        let marker = folder.appendingPathComponent("ran")
        try runPython(#"""
import os, sys, zipfile
import torch
folder, marker = sys.argv[1], sys.argv[2]
class Exploit:
    def __reduce__(self):
        return (os.system, ("touch " + marker,))
torch.save({"weights": torch.ones(2), "payload": Exploit()}, os.path.join(folder, "exploit.pth"))
torch.save({"weights": torch.ones(2), "payload": Exploit()}, os.path.join(folder, "exploit_legacy.pth"),
           _use_new_zipfile_serialization=False)
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(folder, "script.pt"))
torch.save({"w": torch.ones(3)}, os.path.join(folder, "plain.pth"))
with zipfile.ZipFile(os.path.join(folder, "plain.pth")) as source, \
        zipfile.ZipFile(os.path.join(folder, "deflated.pth"), "w", zipfile.ZIP_DEFLATED) as target:
    for info in source.infolist():
        target.writestr(info.filename, source.read(info))
"""#, arguments: [folder.path, marker.path])

        for name in ["exploit.pth", "exploit_legacy.pth"] {
            let path = folder.appendingPathComponent(name)
            let error = try #require(throws: TorchFileError.self) { try TorchFile.load(contentsOf: path) }
            #expect(error.message.contains("system"), "\(error)")
            #expect(error.message.contains("nothing is executed"), "\(error)")
            #expect(error.path == path.path)
            #expect(error.byteOffset != nil)
        }
        #expect(!FileManager.default.fileExists(atPath: marker.path))

        let script = try #require(throws: TorchFileError.self) {
            try TorchFile.load(contentsOf: folder.appendingPathComponent("script.pt"))
        }
        #expect(script.message.contains("TorchScript"), "\(script)")
        let deflated = try #require(throws: TorchFileError.self) {
            try TorchFile.load(contentsOf: folder.appendingPathComponent("deflated.pth"))
        }
        #expect(deflated.message.contains("compressed"), "\(deflated)")
    }

    @Test("a folder, a device and a missing path are named as such, not read")
    func refusesWhatIsNotAFile() throws {
        let folder = try TestEnvironment.temporaryDirectory("torchfiles-not-files")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases: [(URL, String)] = [
            (folder, "folder"),
            (URL(fileURLWithPath: "/dev/null"), "not a regular file"),
            (folder.appendingPathComponent("absent.pth"), "no such file"),
        ]
        for (url, expected) in cases {
            let error = try #require(throws: TorchFileError.self) { try TorchFile.load(contentsOf: url) }
            #expect(error.message.contains(expected), "\(error)")
            #expect(error.path == url.path)
        }
    }
}
