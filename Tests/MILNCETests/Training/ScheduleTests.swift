import Foundation
import Testing
import TestSupport
@testable import MILNCE

@Suite struct ScheduleTests {
    /// The learning rate of every step equals PyTorch's LambdaLR with the reference's lambda.
    @Test(arguments: [(warmup: 10, total: 50), (warmup: 0, total: 7), (warmup: 5, total: 5), (warmup: 3, total: 40)])
    func matchesLambdaLR(warmup: Int, total: Int) throws {
        try TestEnvironment.requireOracle("torch")
        let script = """
        import math, sys, json, torch
        warmup, total = int(sys.argv[1]), int(sys.argv[2])
        def lr_lambda(step):
            if step < warmup: return float(step) / float(max(1, warmup))
            progress = float(step - warmup) / float(max(1, total - warmup))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.Adam([p], lr=0.001)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        out = []
        for _ in range(total + 3):
            out.append(opt.param_groups[0]['lr']); opt.step(); sched.step()
        print(json.dumps(out))
        """
        let expected = try JSONDecoder().decode([Double].self,
                                                from: Data(runPython(script, arguments: ["\(warmup)", "\(total)"]).utf8))
        var schedule = CosineSchedule(baseLearningRate: 0.001, warmupSteps: warmup, totalSteps: total)
        for value in expected {
            #expect(abs(schedule.learningRate - value) <= 1e-15, "step \(schedule.stepsTaken)")
            schedule.step()
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
