import Foundation
import Testing
import TestSupport

/// `bench/gpu.sh --dry-run`: the GPU machine's script, run here on the CPU at tiny sizes with the
/// built binary as its package, so that it cannot rot between visits to a GPU machine. The report
/// must name every step with its status and figures, in gpu.md and gpu.json, and keep the logs.
@Suite(.serialized) struct GPUScriptTests {
    /// The rows of the report, in the script's order; the training rows at the dry run's batches 2 and 4.
    static let expectedRows: [String] = {
        func training(_ batch: Int) -> [String] {
            ["pytorch-best-b\(batch)", "pytorch-reference-b\(batch)", "pytorch-gpu-convert-b\(batch)",
             "ours-bf16-cl-b\(batch)", "ours-fp32-b\(batch)", "ours-bf16-b\(batch)"]
        }
        return ["environment", "check-cuda-fp32", "check-cuda-bf16", "check-cpu", "pytorch-golden-cuda-fp32"]
            + training(2) + ["nccl-train", "demo", "loader-raw"] + training(4) + ["loader-store"]
    }()

    /// The project's Python, the oracle of the reference's training step (a failure, not a skip, when missing).
    static func python() throws -> URL {
        try TestEnvironment.requireOracle("torch")
    }

    /// Runs `bench/gpu.sh` with `arguments`, the built binary's folder as PACKAGE_DIR and `out` as OUT_DIR.
    static func runScript(_ arguments: [String], out: URL) throws -> ProcessOutput {
        let executable = try milnceExecutable()
        let script = TestEnvironment.packageRoot.appendingPathComponent("bench/gpu.sh")
        return try runProcess(URL(fileURLWithPath: "/bin/bash"),
                              [script.path] + arguments + [executable.deletingLastPathComponent().path, out.path],
                              environment: ["PYTHON": try python().path])
    }

    /// gpu.json's steps by name, in order.
    static func steps(in out: URL) throws -> (json: [String: Any], steps: [[String: Any]]) {
        let data = try Data(contentsOf: out.appendingPathComponent("gpu.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (json, try #require(json["steps"] as? [[String: Any]]))
    }

    /// The steps of the script, in order (PyTorch's training step has a row per mode in the report).
    static let stepNames: [String] = {
        func training(_ batch: Int) -> [String] {
            ["pytorch-train-b\(batch)", "ours-bf16-cl-b\(batch)", "ours-fp32-b\(batch)", "ours-bf16-b\(batch)"]
        }
        return ["environment", "check-cuda-fp32", "check-cuda-bf16", "check-cpu", "pytorch-golden-cuda-fp32"]
            + training(2) + ["nccl-train", "demo", "loader-raw"] + training(4) + ["loader-store"]
    }()

    @Test func theDryRunReportsEveryStep() throws {
        let fixture = try CheckCommandTests.fixtureFolder()
        let out = try TestEnvironment.temporaryDirectory("gpu-dry-run")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try Self.runScript(["--dry-run", "--golden", fixture.path], out: out)
        let output = result.standardOutput + result.standardError
        #expect(result.status == 0, "\(output.suffix(3000))")
        let executable = try milnceExecutable()

        // Only what the GPU machine can return: three files at the top level.
        let files = try FileManager.default.contentsOfDirectory(atPath: out.path).sorted()
        #expect(files == ["gpu.json", "gpu.md", "logs.tar.gz"])

        // gpu.md: one table, a row per step and figure, each with its status.
        let markdown = try String(contentsOf: out.appendingPathComponent("gpu.md"), encoding: .utf8)
        #expect(markdown.hasPrefix("# bench/gpu.sh --dry-run (CPU, tiny sizes): every step passed"), "\(markdown.prefix(300))")
        #expect(markdown.contains("| step | command | figure | ratio | status | seconds |"))
        let tableRows = markdown.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| step ") }
        let labels = tableRows.map { $0.dropFirst(2).prefix { $0 != " " } }.map(String.init)
        #expect(labels == Self.expectedRows, "\(markdown)")

        // gpu.json: every step, its status, its figures.
        let (json, steps) = try Self.steps(in: out)
        #expect(json["dry_run"] as? Bool == true)
        #expect(json["passed"] as? Bool == true)
        #expect(json["failed"] as? [String] == [])
        #expect(steps.compactMap { $0["name"] as? String } == Self.stepNames)
        let help = try runProcess(executable, ["bench", "loader", "--help"]).standardOutput
        let hasStore = help.split(whereSeparator: { !$0.isLetter }).contains("store")
        var rowsByLabel: [String: [String: Any]] = [:]
        for step in steps {
            let name = try #require(step["name"] as? String)
            let status = try #require(step["status"] as? String)
            if name == "loader-store" && !hasStore {
                #expect(status == "skipped (this binary has no store benchmark)")
            } else {
                #expect(status == "ok", "\(name): \(status)")
            }
            #expect((step["command"] as? String)?.isEmpty == false)
            for row in try #require(step["rows"] as? [[String: Any]]) {
                rowsByLabel[try #require(row["label"] as? String)] = row
                if status == "ok" { #expect((row["figure"] as? String)?.isEmpty == false, "\(name) has no figure") }
            }
        }
        #expect(Set(rowsByLabel.keys) == Set(Self.expectedRows))
        for name in ["check-cuda-fp32", "check-cuda-bf16", "check-cpu"] {
            let values = try #require(rowsByLabel[name]?["values"] as? [String: Any])
            #expect(values["passed"] as? Bool == true, "\(name)")
            #expect((values["largest_error_over_tolerance"] as? Double).map { $0 > 0 && $0 <= 1 } == true)
        }
        for label in Self.expectedRows where label.hasPrefix("ours-") || (label.hasPrefix("pytorch-") && !label.hasPrefix("pytorch-golden")) {
            let values = try #require(rowsByLabel[label]?["values"] as? [String: Any], "\(label)")
            #expect((values["clips_per_second"] as? Double).map { $0 > 0 } == true, "\(label)")
            #expect((values["speed_over_best_eager"] as? Double).map { $0 > 0 } == true, "\(label)")
        }
        #expect((rowsByLabel["demo"]?["figure"] as? String)?.hasPrefix("R@1 ") == true)
        #expect((rowsByLabel["nccl-train"]?["figure"] as? String)?.contains("steps") == true)
        #expect((rowsByLabel["loader-raw"]?["figure"] as? String)?.contains("clips/s") == true)

        // The logs: one per step, and the checks' JSON reports.
        let listing = try runProcess(URL(fileURLWithPath: "/usr/bin/tar"), ["-tzf", out.appendingPathComponent("logs.tar.gz").path])
        let archived = Set(listing.standardOutput.split(separator: "\n").map(String.init))
        for (index, step) in steps.enumerated() {
            let name = try #require(step["name"] as? String)
            #expect(archived.contains("logs/" + String(format: "%02d", index + 1) + "-\(name).log"), "\(name)'s log")
        }
        #expect(archived.contains("logs/check-cuda-fp32.json") && archived.contains("logs/steps.tsv"))
    }

    /// A step that fails is reported with its exit status and the reason from its log, and the steps
    /// after it still run; the run's verdict and exit status say that not every step passed.
    @Test func aFailingStepDoesNotStopTheOthers() throws {
        let empty = try TestEnvironment.temporaryDirectory("gpu-no-fixture")
        let out = try TestEnvironment.temporaryDirectory("gpu-failing-step")
        defer {
            try? FileManager.default.removeItem(at: empty)
            try? FileManager.default.removeItem(at: out)
        }
        let result = try Self.runScript(["--dry-run", "--golden", empty.path, "--steps", "check-cuda-fp32,check-cpu"], out: out)
        #expect(result.status == 1, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardError.contains("no golden fixture at \(empty.path)"))
        let (json, steps) = try Self.steps(in: out)
        #expect(json["passed"] as? Bool == false)
        #expect(json["failed"] as? [String] == ["check-cuda-fp32", "check-cpu"])
        #expect(steps.compactMap { $0["name"] as? String } == Self.stepNames)
        for step in steps {
            let name = try #require(step["name"] as? String)
            let status = step["status"] as? String
            if name == "check-cuda-fp32" || name == "check-cpu" {
                #expect(status == "failed (exit 2)", "\(name)")
                let figure = (step["rows"] as? [[String: Any]])?.first?["figure"] as? String
                #expect(figure?.contains("cannot use the golden fixture") == true, "\(name): \(figure ?? "no figure")")
            } else {
                #expect(status == "skipped (not selected)", "\(name)")
            }
        }
        let markdown = try String(contentsOf: out.appendingPathComponent("gpu.md"), encoding: .utf8)
        #expect(markdown.hasPrefix("# bench/gpu.sh --dry-run (CPU, tiny sizes): 2 of 17 steps did not pass: "
                                   + "check-cuda-fp32, check-cpu (15 not selected)"), "\(markdown.prefix(300))")
    }

    /// With no time left every step is listed as skipped, and the run does not pass.
    @Test func stepsBeyondTheBudgetAreSkippedAndListed() throws {
        let out = try TestEnvironment.temporaryDirectory("gpu-no-budget")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try Self.runScript(["--dry-run", "--budget", "0"], out: out)
        #expect(result.status == 1)
        let (json, steps) = try Self.steps(in: out)
        #expect(json["passed"] as? Bool == false)
        #expect(steps.compactMap { $0["name"] as? String } == Self.stepNames)
        let statuses = Set(steps.compactMap { $0["status"] as? String })
        // The store step is either out of time or, for a binary without it, does not apply.
        #expect(statuses.isSubset(of: ["skipped (time budget)", "skipped (this binary has no store benchmark)"]), "\(statuses)")
        let failed = try #require(json["failed"] as? [String])
        #expect(failed.filter { $0 != "loader-store" } == Self.stepNames.filter { $0 != "loader-store" })
    }

    @Test func badArgumentsAreRefusedWithTheReason() throws {
        let out = try TestEnvironment.temporaryDirectory("gpu-bad-arguments")
        defer { try? FileManager.default.removeItem(at: out) }
        let script = TestEnvironment.packageRoot.appendingPathComponent("bench/gpu.sh").path
        let bash = URL(fileURLWithPath: "/bin/bash")
        let missing = try runProcess(bash, [script, "--dry-run"])
        #expect(missing.status == 2 && missing.standardError.contains("expected PACKAGE_DIR and OUT_DIR"))
        let budget = try Self.runScript(["--budget", "soon"], out: out)
        #expect(budget.status == 2 && budget.standardError.contains("--budget must be a whole number of seconds"))
        let noBinary = try runProcess(bash, [script, out.path, out.path])
        #expect(noBinary.status == 2 && noBinary.standardError.contains("holds no milnce binary"))
        let noBundle = try runProcess(bash, [script, "--bundle", out.path, out.path])
        #expect(noBundle.status == 2 && noBundle.standardError.contains("holds no milnce.tar.xz; make it with `make gpu-bundle`"),
                "\(noBundle.standardError)")
    }

    /// `--bundle DIR`: the package and the fixture come from DIR's two archives (as `make gpu-bundle`
    /// writes them), so the check runs from the repository and that folder alone.
    @Test func aBundleSuppliesThePackageAndTheFixture() throws {
        let fixture = try CheckCommandTests.fixtureFolder()
        let work = try TestEnvironment.temporaryDirectory("gpu-bundle")
        defer { try? FileManager.default.removeItem(at: work) }
        let manager = FileManager.default
        // The package folder: a `milnce` that runs the built binary, in milnce/ as `make package` names it.
        let package = work.appendingPathComponent("staging/milnce")
        try manager.createDirectory(at: package, withIntermediateDirectories: true)
        let launcher = package.appendingPathComponent("milnce")
        try "#!/bin/sh\nexec '\(try milnceExecutable().path)' \"$@\"\n".write(to: launcher, atomically: true, encoding: .utf8)
        try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: launcher.path)
        let bundle = work.appendingPathComponent("bundle")
        try manager.createDirectory(at: bundle, withIntermediateDirectories: true)
        let bash = URL(fileURLWithPath: "/bin/bash")
        func pack(_ folder: URL, into archive: String) throws {
            let packing = try runProcess(bash, ["-c", "tar -cf - -C \"$1\" \"$2\" | xz -0 -T2 > \"$3\"", "pack",
                                                folder.deletingLastPathComponent().path, folder.lastPathComponent,
                                                bundle.appendingPathComponent(archive).path])
            #expect(packing.status == 0, "\(packing.standardError)")
        }
        try pack(package, into: "milnce.tar.xz")
        try pack(fixture, into: "golden.tar.xz")

        let out = work.appendingPathComponent("out")
        let script = TestEnvironment.packageRoot.appendingPathComponent("bench/gpu.sh")
        let result = try runProcess(bash, [script.path, "--dry-run", "--bundle", bundle.path, "--steps", "check-cpu", out.path],
                                    environment: ["PYTHON": try Self.python().path])
        #expect(result.status == 0, "\((result.standardOutput + result.standardError).suffix(3000))")
        let (_, steps) = try Self.steps(in: out)
        let check = try #require(steps.first { $0["name"] as? String == "check-cpu" })
        #expect(check["status"] as? String == "ok")
        let values = try #require((check["rows"] as? [[String: Any]])?.first?["values"] as? [String: Any])
        #expect(values["passed"] as? Bool == true)
        // The fixture that was checked is the unpacked copy, not a folder found beside the repository.
        let command = try #require(check["command"] as? String)
        #expect(command.contains("/bundle/golden/\(fixture.lastPathComponent)") && !command.contains(fixture.path), "\(command)")
    }
}
