import Foundation
import Testing
import Torch
@testable import MILNCE

// Temporary development check on raw dumps; replaced by the real golden test.
@Suite struct DevGoldenRaw {
    func load() throws -> [String: Tensor] {
        let dir = URL(fileURLWithPath: "/tmp/golden_raw")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("meta.json"))) as! [String: [Any]]
        var out: [String: Tensor] = [:]
        for (name, info) in meta {
            let dtype = DType(name: info[0] as! String)!
            let shape = (info[1] as! [Int])
            let data = try Data(contentsOf: dir.appendingPathComponent("\(name).bin"))
            out[name] = try data.withUnsafeBytes { try Tensor(bytes: $0, dtype: dtype, shape: shape) }
        }
        return out
    }

    func relErr(_ a: Tensor, _ b: Tensor) throws -> Double {
        try (a - b).norm().item() / b.norm().item()
    }

    @Test func golden() throws {
        let all = try load()
        var sd: [String: Tensor] = [:]
        for (k, v) in all where k.hasPrefix("sd__") { sd[String(k.dropFirst(4))] = v }
        let io = all.filter { $0.key.hasPrefix("io__") }.reduce(into: [String: Tensor]()) { $0[String($1.key.dropFirst(4))] = $1.value }
        let video = try S3DG()
        let text = try SentenceEmbedding(vocabularySize: 1000)
        let model = MILNCEModel(video: video, text: text)
        try model.load(stateDict: sd)
        model.eval()
        let x = io["video"]!, t = io["text"]!
        let f = try withoutGrad { try video.features(x) }
        print("mixed5c", try relErr(f, io["eval_mixed5c"]!))
        let v = try withoutGrad { try video(x) }
        print("video", try relErr(v, io["eval_video_embd"]!))
        let te = try withoutGrad { try text(t) }
        print("text", try relErr(te, io["eval_text_embd"]!))
        model.train()
        let tv = try video(x), tt = try text(t)
        let loss = try milNCELoss(video: tv, text: tt)
        print("train video", try relErr(tv, io["train_video_embd"]!), "text", try relErr(tt, io["train_text_embd"]!))
        print("loss", try loss.item(), try io["train_loss"]!.item())
        try loss.backward()
        let named = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor) })
        for (k, g) in io where k.hasPrefix("grad.") {
            let p = named[String(k.dropFirst(5))]!
            print(k, try relErr(p.grad!, g))
        }
        for (k, b) in io where k.hasPrefix("after_train_step.") {
            let p = named[String(k.dropFirst(17))]!
            print(k, try relErr(p.to(.float64), b.to(.float64)))
        }
    }
}
