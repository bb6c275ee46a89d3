import Foundation
import Testing
import TestSupport
import Torch
import TorchFiles
@testable import MILNCE

/// The model files users have, written by PyTorch with the reference model
/// (`bench/reference_model.py`): the released model's layout (a bare state_dict of the
/// space-to-depth network with its word embedding, in the legacy pre-zip format), the reference's
/// training checkpoint (`module.` keys beside `epoch`, `optimizer` and `scheduler`), and files
/// that do not fit.
@Suite(.serialized) struct CheckpointLayoutTests {
    static let vocabulary = 40

    /// Writes the files and the reference's evaluation-mode outputs into `folder`.
    func writeFiles(into folder: URL) throws {
        _ = try EvaluationOracle.run(#"""
import sys, torch
sys.path.insert(0, sys.argv[1])
from reference_model import S3D
folder, vocab = sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
model = S3D(512, space_to_depth=True, vocab=vocab)
for module in model.modules():
    if isinstance(module, torch.nn.BatchNorm3d):
        module.running_mean.uniform_(-0.1, 0.1)
        module.running_var.uniform_(0.5, 1.5)
        module.weight.data.uniform_(0.5, 1.5)
        module.bias.data.uniform_(-0.1, 0.1)
model.eval()
video = torch.rand(2, 3, 8, 48, 48)
text = torch.randint(0, vocab, (3, 6))
text[0] = 0
with torch.no_grad():
    io = {'video': video, 'text': text, 'mixed5c': model.forward_video(video, mixed5c=True),
          'video_embd': model.forward_video(video), 'text_embd': model.text_module(text)}
torch.save(io, folder + '/io.pth')
torch.save(model.state_dict(), folder + '/s3d_howto100m.pth', _use_new_zipfile_serialization=False)

trainable = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.Adam(trainable, lr=1e-3)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
prefixed = {'module.' + k: v for k, v in model.state_dict().items()}
torch.save({'epoch': 3, 'state_dict': prefixed, 'optimizer': optimizer.state_dict(),
            'scheduler': scheduler.state_dict()}, folder + '/epoch0003.pth.tar')

bad = model.state_dict()
bad['fc.weight'] = torch.zeros(512, 1000)
del bad['fc.bias']
bad['head.weight'] = torch.zeros(3)
torch.save(bad, folder + '/bad.pth')
"""#, arguments: [TestEnvironment.packageRoot.appendingPathComponent("bench").path, folder.path,
                  "\(Self.vocabulary)"])
    }

    static func relativeError(_ value: Tensor, _ reference: Tensor) throws -> Double {
        #expect(value.shape == reference.shape)
        let a = try value.to(.float64), b = try reference.to(.float64)
        return try (a - b).norm().item() / max(try b.norm().item(), 1e-30)
    }

    @Test("the released layout and the reference's training checkpoint load and compute the reference's numbers")
    func referenceFilesLoadAndMatch() throws {
        let folder = try TestEnvironment.temporaryDirectory("checkpoint-layouts")
        defer { try? FileManager.default.removeItem(at: folder) }
        try writeFiles(into: folder)
        let io = Dictionary(try loadNamedTensors(from: folder.appendingPathComponent("io.pth")).map { ($0.name, $0.tensor) },
                            uniquingKeysWith: { a, _ in a })

        let released = try ModelCheckpoint.load(from: folder.appendingPathComponent("s3d_howto100m.pth"))
        #expect(released.layout == .stateDict)
        #expect(released.spaceToDepth)
        #expect(released.vocabularySize == Self.vocabulary)
        #expect(released.embeddingDimension == 512)
        #expect(!released.hadModulePrefix)

        let training = try ModelCheckpoint.load(from: folder.appendingPathComponent("epoch0003.pth.tar"))
        #expect(training.layout == .referenceTraining)
        #expect(training.hadModulePrefix)
        #expect(training.epoch == 3)
        #expect(training.tensorsByName.keys.sorted() == released.tensorsByName.keys.sorted())
        for (name, tensor) in released.tensorsByName {
            #expect(try Self.relativeError(training.tensorsByName[name]!, tensor) == 0, "\(name)")
        }
        let summary = training.summary(path: "epoch0003.pth.tar")
        #expect(summary.contains("reference training checkpoint"))
        #expect(summary.contains("'module.'"))
        #expect(summary.contains("space-to-depth"))
        #expect(summary.contains("word embedding \(Self.vocabulary) x 300"))

        for checkpoint in [released, training] {
            let model = try checkpoint.makeModel()
            model.eval()
            try withoutGrad {
                let video = io["video"]!
                let outputs = [("mixed5c", try model.video.features(video)), ("video_embd", try model.video(video)),
                               ("text_embd", try model.text(io["text"]!))]
                for (name, value) in outputs {
                    let error = try Self.relativeError(value, io[name]!)
                    print("\(checkpoint.layout.rawValue), space-to-depth, \(name): relative error \(error)")
                    #expect(error <= 1e-5, "\(checkpoint.layout) \(name): relative error \(error)")
                }
            }
        }
    }

    @Test("a state_dict that does not fit names every missing, unexpected and mis-shaped key at once")
    func misfitsAreListed() throws {
        let folder = try TestEnvironment.temporaryDirectory("checkpoint-misfit")
        defer { try? FileManager.default.removeItem(at: folder) }
        try writeFiles(into: folder)
        let checkpoint = try ModelCheckpoint.load(from: folder.appendingPathComponent("bad.pth"))
        let error = try #require(throws: StateDictError.self) { try checkpoint.makeModel() }
        #expect(error.missing == ["fc.bias"])
        #expect(error.unexpected == ["head.weight"])
        #expect(error.mismatched.map(\.name) == ["fc.weight"])
        let message = "\(error)"
        for name in ["fc.bias", "head.weight", "fc.weight"] { #expect(message.contains(name), "\(message)") }
    }
}
