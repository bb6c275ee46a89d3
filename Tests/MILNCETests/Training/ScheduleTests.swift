import Foundation
import Testing
import TestSupport
import Torch
@testable import MILNCE

@Suite struct ScheduleTests {
    /// The learning rate of every step equals PyTorch's LambdaLR with the reference's lambda.
    @Test(arguments: [(warmup: 10, total: 50), (warmup: 0, total: 7), (warmup: 5, total: 5), (warmup: 3, total: 40)])
    func matchesLambdaLR(warmup: Int, total: Int) throws {
        try TestEnvironment.requireOracle("torch")
        let expected = try JSONDecoder().decode([Double].self, from: Data(runPython(
            PythonOracles.scheduledLearningRates, arguments: ["0.001", "\(warmup)", "\(total)", "\(total + 3)"]).utf8))
        try #require(expected.count == total + 3)
        var schedule = CosineSchedule(baseLearningRate: 0.001, warmupSteps: warmup, totalSteps: total)
        for value in expected {
            #expect(abs(schedule.learningRate - value) <= 1e-15, "step \(schedule.stepsTaken)")
            schedule.step()
        }
    }

    /// Our schedule driving our optimisers takes PyTorch's steps: `torch.optim.Adam` and
    /// `torch.optim.SGD(momentum=0.9)` under the reference's warmup and cosine `LambdaLR`, over ten
    /// steps from the same parameters with the same gradients (`PythonOracles.optimizerSteps`).
    /// Learning rates and parameters are compared at every step.
    @Test(arguments: ["adam", "sgd"])
    func optimizersUnderTheScheduleTakePyTorchsSteps(optimizer name: String) throws {
        try TestEnvironment.requireOracle("torch")
        let steps = 10, warmup = 3, learningRate = 0.1, momentum = 0.9
        let folder = try TestEnvironment.temporaryDirectory("scheduled-optimizer")
        defer { try? FileManager.default.removeItem(at: folder) }
        let configuration: [String: Any] = ["optimizer": name, "lr": learningRate, "momentum": momentum, "weight_decay": 0.0,
                                            "steps": steps, "seed": 2, "warmup": warmup, "total": steps]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: configuration), as: UTF8.self)
        struct Printed: Decodable { var lrs: [Double] }
        let torchRates = try JSONDecoder().decode(Printed.self, from: Data(runPython(PythonOracles.optimizerSteps,
                                                                                      arguments: [folder.path, json]).utf8)).lrs
        try #require(torchRates.count == steps)
        let torch = Dictionary(try loadNamedTensors(from: folder.appendingPathComponent("steps.pth")).map { ($0.name, $0.tensor) },
                               uniquingKeysWith: { a, _ in a })
        // Parameters 0 to 2 are trained, 3 is frozen.
        let parameters = try (0..<4).map { index in
            try #require(torch["initial.\(index)"]).clone().setRequiresGrad(index != 3)
        }
        let optimizer: Optimizer = name == "adam" ? Adam(parameters: parameters, learningRate: learningRate)
            : SGD(parameters: parameters, learningRate: learningRate, momentum: momentum)
        var schedule = CosineSchedule(baseLearningRate: learningRate, warmupSteps: warmup, totalSteps: steps)
        for step in 0..<steps {
            #expect(abs(schedule.learningRate - torchRates[step]) <= 1e-15, "learning rate of step \(step)")
            optimizer.learningRate = schedule.learningRate
            for (index, parameter) in parameters.enumerated() { try parameter.setGrad(torch["grad.\(step).\(index)"]?.clone()) }
            try optimizer.step()
            schedule.step()
            for (index, parameter) in parameters.enumerated() {
                let expected = try #require(torch["after.\(step).\(index)"]).to(.float64)
                let error = try (parameter.to(.float64) - expected).norm().item() / max(try expected.norm().item(), 1e-30)
                #expect(error <= 1e-6, "parameter \(index) after step \(step): relative error \(error)")
            }
        }
        // The steps moved the trained parameters well away from where they started.
        for index in 0..<3 {
            let initial = try #require(torch["initial.\(index)"])
            #expect(try (parameters[index] - initial).norm().item() > 0.05 * initial.norm().item(), "parameter \(index)")
        }
    }
}

@Suite struct DistributedWorldTests {
    @Test func singleProcessWithoutEnvironment() throws {
        let world = try DistributedWorld.resolve(environment: [:], worldSizeFlag: -1, rankFlag: -1, distURL: nil, distFile: "dist-file")
        #expect(world == .single)
    }

    @Test func slurmUsesAFileStoreNamedAfterTheJob() throws {
        let env = ["SLURM_NPROCS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_JOBID": "4242"]
        let world = try DistributedWorld.resolve(environment: env, worldSizeFlag: -1, rankFlag: -1, distURL: nil,
                                                 distFile: "/shared/dist-file")
        #expect(world.rank == 5 && world.size == 8 && world.localRank == 1)
        #expect(world.rendezvous == .file(path: "/shared/dist-file.4242"))
    }

    @Test func slurmWithMasterAddressUsesTCP() throws {
        let env = ["SLURM_NPROCS": "2", "SLURM_PROCID": "0", "SLURM_JOBID": "1", "MASTER_ADDR": "node1", "MASTER_PORT": "29500"]
        let world = try DistributedWorld.resolve(environment: env, worldSizeFlag: -1, rankFlag: -1, distURL: nil, distFile: "f")
        #expect(world.rendezvous == .tcp(host: "node1", port: 29500))
    }

    @Test func torchrunEnvironment() throws {
        let env = ["RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "3", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1234"]
        let world = try DistributedWorld.resolve(environment: env, worldSizeFlag: -1, rankFlag: -1, distURL: nil, distFile: "f")
        #expect(world == DistributedWorld(rank: 3, size: 4, localRank: 3, rendezvous: .tcp(host: "10.0.0.1", port: 1234),
                                          source: "torchrun"))
    }

    @Test func flagsWinAndWorkersMultiplyTheWorld() throws {
        let world = try DistributedWorld.resolve(environment: ["RANK": "9", "WORLD_SIZE": "10"], worldSizeFlag: 2, rankFlag: 1,
                                                 distURL: "tcp://127.0.0.1:23456", distFile: "f")
        #expect(world.rank == 1 && world.size == 2 && world.source == "flags")
        let worker = world.worker(3, of: 4)
        #expect(worker.rank == 7 && worker.size == 8 && worker.localRank == 3)
    }

    @Test(arguments: [
        (["RANK": "4", "WORLD_SIZE": "4", "MASTER_ADDR": "h", "MASTER_PORT": "1"], -1, -1, nil as String?),
        (["RANK": "x", "WORLD_SIZE": "4"], -1, -1, nil),
        ([:], 2, -1, nil),
        ([:], 2, 0, "udp://host:1"),
        ([:], 2, 0, "tcp://host"),
        (["RANK": "0", "WORLD_SIZE": "2"], -1, -1, nil),
    ])
    func invalidWorldsAreRejected(environment: [String: String], size: Int, rank: Int, url: String?) {
        #expect(throws: TrainingError.self) {
            try DistributedWorld.resolve(environment: environment, worldSizeFlag: size, rankFlag: rank, distURL: url, distFile: "f")
        }
    }
}
