import FoundationEssentials
import POSIX

/// Where the ranks of a job meet to form their process group.
public enum Rendezvous: Equatable, Sendable, CustomStringConvertible {
    /// One process: no group.
    case none
    /// A TCP store hosted by rank 0 at `host:port`.
    case tcp(host: String, port: Int)
    /// A store in a shared file.
    case file(path: String)

    /// Parses `tcp://host:port`, `file:///path` or `env://` (`MASTER_ADDR`, `MASTER_PORT`).
    public static func parse(_ url: String, environment: [String: String]) throws -> Rendezvous {
        if url.hasPrefix("file://") {
            let path = String(url.dropFirst("file://".count))
            guard !path.isEmpty else { throw TrainingError.invalidConfiguration("--dist-url \(url) names no file") }
            return .file(path: path)
        }
        if url == "env://" {
            guard let host = environment["MASTER_ADDR"], let portText = environment["MASTER_PORT"], let port = Int(portText)
            else {
                throw TrainingError.invalidConfiguration("--dist-url env:// needs MASTER_ADDR and MASTER_PORT in the environment")
            }
            return .tcp(host: host, port: port)
        }
        if url.hasPrefix("tcp://") {
            let address = url.dropFirst("tcp://".count)
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
                  (1...65535).contains(port), colon > address.startIndex
            else {
                throw TrainingError.invalidConfiguration("--dist-url \(url): expected tcp://HOST:PORT")
            }
            return .tcp(host: String(address[..<colon]), port: port)
        }
        throw TrainingError.invalidConfiguration("--dist-url \(url): expected tcp://HOST:PORT, file:///PATH or env://")
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .tcp(let host, let port): "tcp://\(host):\(port)"
        case .file(let path): "file://\(path)"
        }
    }
}

/// The ranks of a training job and this process's place among them, taken from SLURM, from
/// `torchrun`, from the command line, or a single process.
public struct DistributedWorld: Equatable, Sendable {
    /// This process's rank in `0 ..< size`.
    public var rank: Int
    /// The number of processes.
    public var size: Int
    /// This process's index on its node (its GPU).
    public var localRank: Int
    /// How the ranks meet.
    public var rendezvous: Rendezvous
    /// Where the description came from, for logs ("SLURM", "torchrun", "flags", "single process").
    public var source: String

    /// A single process.
    public static let single = DistributedWorld(rank: 0, size: 1, localRank: 0, rendezvous: .none, source: "single process")

    /// Whether there is more than one rank.
    public var isDistributed: Bool { size > 1 }

    /// Resolves the world as the reference does, and more:
    /// - `--world-size` and `--rank` given (≥ 0): those, with `--dist-url`;
    /// - else torchrun's `RANK`, `WORLD_SIZE`, `LOCAL_RANK` with `MASTER_ADDR`/`MASTER_PORT`;
    /// - else SLURM's `SLURM_NPROCS`, `SLURM_PROCID`, `SLURM_LOCALID`, `SLURM_JOBID`, meeting over
    ///   TCP when `MASTER_ADDR`/`MASTER_PORT` are set and over the file `<dist-file>.<job id>` otherwise;
    /// - else one process.
    public static func resolve(environment: [String: String], worldSizeFlag: Int, rankFlag: Int,
                               distURL: String?, distFile: String) throws -> DistributedWorld {
        func integer(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text.trimmingWhitespace()) else {
                throw TrainingError.invalidConfiguration("environment variable \(name)='\(text)' is not an integer")
            }
            return value
        }
        func validated(_ world: DistributedWorld) throws -> DistributedWorld {
            guard world.size >= 1, (0..<world.size).contains(world.rank), world.localRank >= 0 else {
                throw TrainingError.invalidConfiguration(
                    "rank \(world.rank) of world size \(world.size) (from \(world.source)) is out of range")
            }
            if world.size > 1, world.rendezvous == .none {
                throw TrainingError.invalidConfiguration("a world of \(world.size) ranks needs --dist-url or a store")
            }
            return world
        }

        if worldSizeFlag > 0 || rankFlag >= 0 {
            guard worldSizeFlag > 0, rankFlag >= 0 else {
                throw TrainingError.invalidConfiguration("--world-size and --rank must be given together")
            }
            let rendezvous = worldSizeFlag > 1
                ? try Rendezvous.parse(distURL ?? "env://", environment: environment) : .none
            let local = try integer("LOCAL_RANK") ?? 0
            return try validated(DistributedWorld(rank: rankFlag, size: worldSizeFlag, localRank: local,
                                                  rendezvous: rendezvous, source: "flags"))
        }
        if let size = try integer("WORLD_SIZE"), let rank = try integer("RANK") {
            let rendezvous = size > 1 ? try Rendezvous.parse(distURL ?? "env://", environment: environment) : .none
            return try validated(DistributedWorld(rank: rank, size: size, localRank: try integer("LOCAL_RANK") ?? 0,
                                                  rendezvous: rendezvous, source: "torchrun"))
        }
        if let size = try integer("SLURM_NPROCS") ?? integer("SLURM_NTASKS"), let rank = try integer("SLURM_PROCID") {
            let job = environment["SLURM_JOBID"] ?? environment["SLURM_JOB_ID"] ?? "0"
            let rendezvous: Rendezvous
            if size == 1 {
                rendezvous = .none
            } else if let distURL {
                rendezvous = try Rendezvous.parse(distURL, environment: environment)
            } else if environment["MASTER_ADDR"] != nil, environment["MASTER_PORT"] != nil {
                rendezvous = try Rendezvous.parse("env://", environment: environment)
            } else {
                let absolute = URL(fileURLWithPath: distFile).standardizedFileURL.path
                rendezvous = .file(path: "\(absolute).\(job)")
            }
            return try validated(DistributedWorld(rank: rank, size: size, localRank: try integer("SLURM_LOCALID") ?? 0,
                                                  rendezvous: rendezvous, source: "SLURM job \(job)"))
        }
        return .single
    }

    /// The world of worker `index` when a node's process starts one worker per local GPU
    /// (`--multiprocessing-distributed`): `workersPerNode × size` ranks, this node's workers at
    /// `rank × workersPerNode + index`.
    public func worker(_ index: Int, of workersPerNode: Int) -> DistributedWorld {
        DistributedWorld(rank: rank * workersPerNode + index, size: size * workersPerNode, localRank: index,
                         rendezvous: rendezvous, source: source + ", worker \(index) of \(workersPerNode)")
    }
}
