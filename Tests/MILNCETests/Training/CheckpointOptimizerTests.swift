import Foundation
import Testing
import TestSupport
import Torch
import TorchFiles
@testable import MILNCE

/// A checkpoint's optimiser and schedule state is PyTorch's after the same steps: N steps here,
/// against N steps of PyTorch's own Adam + LambdaLR loop from the same weights and batches; and the
/// checkpoint loaded into PyTorch takes the same next step as PyTorch's own loop.
@Suite struct CheckpointOptimizerTests {
    static let steps = 2, warmup = 4, total = 20, learningRate = 1e-3

    /// The reference's lambda (`get_cosine_schedule_with_warmup`) under LambdaLR, and the step of
    /// `main_distributed.py`'s TrainOneBatch, in PyTorch.
    static let oracle = """
    import json, math, sys, torch
    sys.path.insert(0, sys.argv[1])
    from reference_model import S3D, milnce_loss
    folder, steps, warmup, total, lr, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
    torch.set_num_threads(threads)
    def lr_lambda(step):
        if step < warmup: return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    initial = torch.load(folder + '/initial.pth', weights_only=True)
    batches = torch.load(folder + '/batches.pth', weights_only=True)
    vocab = initial['text_module.word_embd.weight'].shape[0]
    def make():
        model = S3D(512, vocab=vocab)
        model.load_state_dict(initial)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr, fused=True)
        return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    def step(model, optimizer, scheduler, index):
        video = batches['video%d' % index].float() / 255
        text = batches['text%d' % index].view(-1, batches['text%d' % index].shape[-1])
        optimizer.zero_grad()
        v, t = model(video, text)
        milnce_loss(v, t).backward()
        used = optimizer.param_groups[0]['lr']
        optimizer.step()
        scheduler.step()
        return used
    def weights(model):
        return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
    def relative(a, b):
        return ((a.double() - b.double()).norm() / b.double().norm()).item()

    model, optimizer, scheduler = make()
    for index in range(steps): step(model, optimizer, scheduler, index)
    checkpoint = torch.load(folder + '/checkpoint.pth.tar', weights_only=True)
    ours_groups, theirs_groups = checkpoint['optimizer']['param_groups'], optimizer.state_dict()['param_groups']
    ours_schedule, theirs_schedule = checkpoint['scheduler'], scheduler.state_dict()

    resumed, resumed_optimizer, resumed_scheduler = make()
    resumed.load_state_dict({k[len('module.'):]: v for k, v in checkpoint['state_dict'].items()})
    resumed_optimizer.load_state_dict(checkpoint['optimizer'])
    resumed_scheduler.load_state_dict(checkpoint['scheduler'])
    before, resumed_before = weights(model), weights(resumed)
    own_lr = step(model, optimizer, scheduler, steps)
    resumed_lr = step(resumed, resumed_optimizer, resumed_scheduler, steps)
    print(json.dumps({
        'groups_equal': ours_groups == theirs_groups, 'schedules_equal': ours_schedule == theirs_schedule,
        'ours_groups': repr(ours_groups), 'theirs_groups': repr(theirs_groups),
        'ours_schedule': repr(ours_schedule), 'theirs_schedule': repr(theirs_schedule),
        'ours_lr': ours_groups[0]['lr'], 'theirs_lr': theirs_groups[0]['lr'],
        'weights_after_steps': relative(resumed_before, before),
        'own_next_lr': own_lr, 'resumed_next_lr': resumed_lr,
        'next_update': relative(weights(resumed) - resumed_before, weights(model) - before),
    }))
    """

    struct OracleResult: Decodable {
        var groups_equal: Bool, schedules_equal: Bool
        var ours_groups: String, theirs_groups: String, ours_schedule: String, theirs_schedule: String
        var ours_lr: Double, theirs_lr: Double, weights_after_steps: Double
        var own_next_lr: Double, resumed_next_lr: Double, next_update: Double
    }

    @Test func aCheckpointHoldsPyTorchsOptimizerAndScheduleAfterNSteps() throws {
        try TestEnvironment.requireOracle("torch")
        let folder = try TestEnvironment.temporaryDirectory("optimizer-state")
        defer { try? FileManager.default.removeItem(at: folder) }
        let generator = try Generator(seed: 21)
        let model = MILNCEModel(video: try S3DG(generator: generator),
                                text: try SentenceEmbedding(vocabularySize: 40, generator: generator))
        try TorchFile.save(.stateDict(model.stateDict().map { ($0.name, try $0.tensor.record()) }),
                           to: folder.appendingPathComponent("initial.pth"))
        var batches: [(name: String, tensor: TensorRecord)] = []
        for index in 0...Self.steps {
            batches.append(("video\(index)", try Tensor.randint(0, 256, shape: [4, 3, 8, 32, 32], generator: generator,
                                                                dtype: .uint8).record()))
            batches.append(("text\(index)", try Tensor.randint(1, 40, shape: [4, 2, 6], generator: generator).record()))
        }
        try TorchFile.save(.stateDict(batches), to: folder.appendingPathComponent("batches.pth"))

        let schedule = CosineSchedule(baseLearningRate: Self.learningRate, warmupSteps: Self.warmup, totalSteps: Self.total)
        let optimizer = Adam(parameters: model.parameters, learningRate: Self.learningRate)
        let step = TrainingStep(model: model, optimizer: optimizer, schedule: schedule, group: nil, device: .cpu)
        let loaded = Dictionary(try loadNamedTensors(from: folder.appendingPathComponent("batches.pth")).map { ($0.name, $0.tensor) },
                                uniquingKeysWith: { a, _ in a })
        for index in 0..<Self.steps {
            _ = try step.run(video: try #require(loaded["video\(index)"]), text: try #require(loaded["text\(index)"]))
        }
        let saved = try TrainingCheckpoint.save(
            model: model, optimizer: optimizer, schedule: step.schedule,
            position: TrainingPosition(epoch: 0, batch: Self.steps, globalStep: Self.steps), run: [:], to: folder)
        try FileManager.default.moveItem(at: saved, to: folder.appendingPathComponent("checkpoint.pth.tar"))

        let output = try runPython(Self.oracle, arguments: [
            TestEnvironment.packageRoot.appendingPathComponent("bench").path, folder.path, "\(Self.steps)", "\(Self.warmup)",
            "\(Self.total)", "\(Self.learningRate)", "\(Runtime.threadCount)",
        ])
        let result = try JSONDecoder().decode(OracleResult.self, from: Data(output.utf8))
        // PyTorch after 2 of 4 warmup steps: lr = 0.001 * 2/4 in the optimizer and in the scheduler.
        #expect(result.theirs_lr == Self.learningRate * 0.5)
        #expect(result.ours_lr == result.theirs_lr, "the optimizer's learning rate lags the scheduler's")
        #expect(result.groups_equal, "ours \(result.ours_groups)\nPyTorch's \(result.theirs_groups)")
        #expect(result.schedules_equal, "ours \(result.ours_schedule)\nPyTorch's \(result.theirs_schedule)")
        #expect(result.weights_after_steps <= 1e-6, "our weights after \(Self.steps) steps against PyTorch's")
        // The next step, resumed in PyTorch from the checkpoint, is PyTorch's own next step.
        #expect(result.resumed_next_lr == result.own_next_lr)
        #expect(result.next_update <= 1e-4, "relative difference of the next update: \(result.next_update)")
    }
}
