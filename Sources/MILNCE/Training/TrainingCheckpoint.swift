import FoundationEssentials
import Torch
import TorchFiles

/// Where a training run stands, as saved in a checkpoint.
public struct TrainingPosition: Equatable, Sendable {
    /// The epoch to run next or in progress (0-based); also the number of completed epochs, the
    /// reference's `epoch` entry.
    public var epoch: Int
    /// Batches of that epoch already trained.
    public var batch: Int
    /// Optimiser steps taken since the start of the run.
    public var globalStep: Int

    public init(epoch: Int, batch: Int, globalStep: Int) {
        self.epoch = epoch
        self.batch = batch
        self.globalStep = globalStep
    }
}

/// Training checkpoints in the reference's layout (`epoch`, `state_dict` with DDP's `module.`
/// prefix, `optimizer`, `scheduler` as PyTorch's `state_dict()`s), plus a `milnce` entry for exact
/// resumption (epoch in progress, batch within it, global step, and the run's shape).
///
/// Files are `epochNNNN.pth.tar` after an epoch (NNNN = completed epochs, as the reference names
/// them) and `epochNNNN.stepSSSSSSSS.pth.tar` within one (SSSSSSSS = global step); both sort in
/// time order by name, so the reference's "newest = last by name" still holds. Each is written to
/// a temporary file and renamed, so a kill during a save leaves the previous newest intact.
public enum TrainingCheckpoint {
    /// The file name for a position (an end-of-epoch name when `batch` is 0).
    public static func fileName(for position: TrainingPosition) -> String {
        let epochs = String(cFormat: "epoch%04ld", position.epoch)
        return position.batch == 0 ? "\(epochs).pth.tar" : "\(epochs).step\(String(cFormat: "%08ld", position.globalStep)).pth.tar"
    }

    /// The checkpoints in `folder`, oldest first.
    public static func list(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix("epoch") && $0.hasSuffix(".pth.tar") }.sorted()
            .map { folder.appendingPathComponent($0) }
    }

    /// The newest checkpoint in `folder`, if any.
    public static func newest(in folder: URL) -> URL? { list(in: folder).last }

    /// The temporary files of saves that never finished (a process killed while saving):
    /// `.epochNNNN….pth.tar.<id>.partial` in `folder`.
    public static func unfinishedSaves(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix(".epoch") && $0.hasSuffix(".partial") }.sorted()
            .map { folder.appendingPathComponent($0) }
    }

    /// Deletes all but the newest `keep` checkpoints.
    public static func prune(_ folder: URL, keep: Int = 10) {
        let all = list(in: folder)
        for url in all.dropLast(keep) { try? FileManager.default.removeItem(at: url) }
    }

    /// Writes a checkpoint atomically and returns its path.
    @discardableResult
    public static func save(model: MILNCEModel, optimizer: Optimizer, schedule: CosineSchedule,
                            position: TrainingPosition, run: [String: PickleValue], to folder: URL) throws -> URL {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let state = try model.stateDict().map { ("module." + $0.name, try $0.tensor.record()) }
        let contents: PickleValue = .dict([
            ("epoch", .int(position.epoch)),
            ("state_dict", .stateDict(state)),
            ("optimizer", try optimizerState(optimizer, schedule: schedule)),
            ("scheduler", scheduleState(schedule)),
            ("milnce", .dict([
                ("format", 1), ("epoch", .int(position.epoch)), ("batch", .int(position.batch)),
                ("global_step", .int(position.globalStep)),
                ("run", .dict(run.sorted { $0.key < $1.key }.map { (PickleValue.string($0.key), $0.value) })),
            ])),
        ].map { (key: PickleValue.string($0.0), value: $0.1) })
        let url = folder.appendingPathComponent(fileName(for: position))
        try TorchFile.save(contents, to: url)
        return url
    }

    // MARK: Optimiser and schedule in PyTorch's layout

    static func optimizerState(_ optimizer: Optimizer, schedule: CosineSchedule) throws -> PickleValue {
        var state: [(key: PickleValue, value: PickleValue)] = []
        var group: [(String, PickleValue)]
        let parameterNumbers = PickleValue.list((0..<optimizer.parameters.count).map { .int($0) })
        switch optimizer {
        case let adam as Adam:
            for (index, entry) in adam.states.sorted(by: { $0.key < $1.key }) {
                state.append((.int(index), .dict([
                    (.string("step"), .tensor(try entry.step.record())),
                    (.string("exp_avg"), .tensor(try entry.expAvg.record())),
                    (.string("exp_avg_sq"), .tensor(try entry.expAvgSq.record())),
                ])))
            }
            group = [("lr", .float(adam.learningRate)), ("betas", .tuple([.float(adam.beta1), .float(adam.beta2)])),
                     ("eps", .float(adam.epsilon)), ("weight_decay", .float(adam.weightDecay)), ("amsgrad", false),
                     ("maximize", false), ("foreach", nil), ("capturable", false), ("differentiable", false),
                     ("fused", adam.implementation == .fused ? .bool(true) : .none), ("decoupled_weight_decay", false)]
        case let sgd as SGD:
            for (index, buffer) in sgd.momentumBuffers.sorted(by: { $0.key < $1.key }) {
                state.append((.int(index), .dict([(.string("momentum_buffer"), .tensor(try buffer.record()))])))
            }
            group = [("lr", .float(sgd.learningRate)), ("momentum", .float(sgd.momentum)), ("dampening", 0),
                     ("weight_decay", .float(sgd.weightDecay)), ("nesterov", false), ("maximize", false),
                     ("foreach", nil), ("differentiable", false), ("fused", nil)]
        default:
            throw TrainingError.invalidConfiguration("cannot save the state of \(type(of: optimizer))")
        }
        group += [("initial_lr", .float(schedule.baseLearningRate)), ("params", parameterNumbers)]
        return .dict([
            (.string("state"), .dict(state)),
            (.string("param_groups"), .list([.dict(group.map { (PickleValue.string($0.0), $0.1) })])),
        ])
    }

    static func scheduleState(_ schedule: CosineSchedule) -> PickleValue {
        let last = schedule.baseLearningRate * schedule.multiplier(at: schedule.stepsTaken)
        return .dict([
            ("base_lrs", .list([.float(schedule.baseLearningRate)])), ("last_epoch", .int(schedule.stepsTaken)),
            ("_step_count", .int(schedule.stepsTaken + 1)), ("_is_initial", false),
            ("_get_lr_called_within_step", false), ("_last_lr", .list([.float(last)])), ("lr_lambdas", .list([nil])),
        ].map { (key: PickleValue.string($0.0), value: $0.1) })
    }

    // MARK: Restoring

    /// Restores the optimiser's per-parameter state from a checkpoint's `optimizer` entry (ours or
    /// the reference's), onto the parameters' devices.
    static func restore(_ optimizer: Optimizer, from value: PickleValue) throws {
        guard let entries = value["state"]?.asDict else {
            throw ModelError.badCheckpoint("the checkpoint's optimizer entry has no 'state'")
        }
        let parameters = optimizer.parameters
        if let groups = value["param_groups"]?.asList, let numbers = groups.first?["params"]?.asList,
           groups.count == 1, numbers.count != parameters.count {
            throw ModelError.badCheckpoint(
                "the checkpoint's optimizer covers \(numbers.count) parameters, the model has \(parameters.count)")
        }
        func tensor(_ entry: PickleValue, _ key: String, like parameter: Tensor, index: Int) throws -> Tensor {
            guard let record = entry[key]?.asTensor else {
                throw ModelError.badCheckpoint("optimizer state of parameter \(index) has no tensor '\(key)'")
            }
            let value = try Tensor(record)
            guard value.shape == parameter.shape else {
                throw ModelError.badCheckpoint(
                    "optimizer state '\(key)' of parameter \(index) has shape \(value.shape), the parameter \(parameter.shape)")
            }
            return try value.to(parameter.device).contiguous()
        }
        for (key, entry) in entries {
            guard let index = key.asInt, parameters.indices.contains(index) else {
                throw ModelError.badCheckpoint("optimizer state for an unknown parameter \(key)")
            }
            let parameter = parameters[index]
            switch optimizer {
            case let adam as Adam:
                let step: Tensor
                if let record = entry["step"]?.asTensor {
                    step = try Tensor(record).to(.float32)
                } else if let count = entry["step"]?.asDouble {
                    step = try Tensor(scalar: Float(count))
                } else {
                    throw ModelError.badCheckpoint("Adam state of parameter \(index) has no step")
                }
                adam.states[index] = Adam.State(
                    step: try step.reshaped([]).to(parameter.device),
                    expAvg: try tensor(entry, "exp_avg", like: parameter, index: index),
                    expAvgSq: try tensor(entry, "exp_avg_sq", like: parameter, index: index))
            case let sgd as SGD:
                sgd.momentumBuffers[index] = try tensor(entry, "momentum_buffer", like: parameter, index: index)
            default:
                throw TrainingError.invalidConfiguration("cannot restore the state of \(type(of: optimizer))")
            }
        }
    }

    /// The schedule's step count from a checkpoint's `scheduler` entry.
    static func restoredSteps(from value: PickleValue?) -> Int? {
        value?["last_epoch"]?.asInt
    }
}
