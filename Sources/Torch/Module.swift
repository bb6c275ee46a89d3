import CTorch

/// A neural-network module: parameters, buffers and child modules under names that match
/// PyTorch's `state_dict` keys (`mixed_3b.conv_b1_b.conv2.weight`), with training and evaluation
/// modes.
///
/// Subclasses create their tensors and children in `init` and register each under its PyTorch
/// name, keeping a typed reference for the forward pass:
/// ```swift
/// final class Block: Module {
///     let conv: Conv3d
///     init() throws {
///         conv = try Conv3d(3, 64, kernel: [3, 3, 3])
///         super.init()
///         register(child: conv, as: "conv1")
///     }
/// }
/// ```
/// The order of registration is the order of `stateDict()` (as PyTorch: a module's parameters,
/// then its buffers, then its children, depth first).
open class Module {
    private var parameterEntries: [(name: String, tensor: Tensor)] = []
    private var bufferEntries: [(name: String, tensor: Tensor)] = []
    private var childEntries: [(name: String, module: Module)] = []

    /// Whether the module is in training mode (batch statistics in BatchNorm) or evaluation mode.
    public private(set) var isTraining = true

    public init() {}

    // MARK: Registration

    /// Registers a learnable tensor under `name`; it records gradients unless `frozen`.
    public func register(parameter tensor: Tensor, as name: String, frozen: Bool = false) throws {
        try tensor.setRequiresGrad(!frozen)
        parameterEntries.append((name, tensor))
    }

    /// Registers a state tensor (not learnable) under `name`, e.g. BatchNorm's running mean.
    public func register(buffer tensor: Tensor, as name: String) {
        bufferEntries.append((name, tensor))
    }

    /// Registers a child module under `name`.
    public func register(child module: Module, as name: String) {
        childEntries.append((name, module))
    }

    // MARK: Traversal

    /// This module's direct children with their names.
    public var children: [(name: String, module: Module)] { childEntries }

    /// Every parameter of this module and its descendants, with dotted names, in PyTorch's order.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = parameterEntries.map { (prefix + $0.name, $0.tensor) }
        for (name, child) in childEntries {
            result += child.namedParameters(prefix: prefix + name + ".")
        }
        return result
    }

    /// Every buffer of this module and its descendants, with dotted names.
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = bufferEntries.map { (prefix + $0.name, $0.tensor) }
        for (name, child) in childEntries {
            result += child.namedBuffers(prefix: prefix + name + ".")
        }
        return result
    }

    /// The parameters in PyTorch's `module.parameters()` order.
    public var parameters: [Tensor] { namedParameters().map(\.tensor) }

    /// The parameters that record gradients (the ones an optimiser updates).
    public var trainableParameters: [Tensor] { parameters.filter(\.requiresGrad) }

    /// Parameters and buffers with their state_dict keys, in PyTorch's `state_dict()` order.
    public func stateDict(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        var result = parameterEntries.map { (prefix + $0.name, $0.tensor) }
        result += bufferEntries.map { (prefix + $0.name, $0.tensor) }
        for (name, child) in childEntries {
            result += child.stateDict(prefix: prefix + name + ".")
        }
        return result
    }

    /// The number of parameter elements.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    // MARK: Modes

    /// Switches this module and its descendants to training (`true`) or evaluation mode.
    public func train(_ training: Bool = true) {
        isTraining = training
        for (_, child) in childEntries { child.train(training) }
    }

    /// Switches to evaluation mode.
    public func eval() { train(false) }

    // MARK: Devices and types

    /// Moves every parameter and buffer to `device` in place (tensor identities are kept, so
    /// references held elsewhere, e.g. by an optimiser, stay valid).
    public func move(to device: Device) throws {
        for (_, tensor) in stateDict() where tensor.device != device {
            try withExtendedLifetime(tensor) {
                let moved = try tensor.to(device)
                try withExtendedLifetime(moved) {
                    try check(ct_tensor_set_data(tensor.handle, moved.handle), "moving a tensor to \(device)")
                }
            }
        }
    }

    /// Converts every parameter and buffer to a memory format in place (e.g. channels_last_3d for
    /// 5-d convolution weights; tensors of other ranks are left as they are).
    public func convert(to format: MemoryFormat) throws {
        for (_, tensor) in stateDict() where tensor.rank == 5 {
            let converted = try tensor.contiguous(format)
            try withExtendedLifetime((tensor, converted)) {
                try check(ct_tensor_set_data(tensor.handle, converted.handle), "converting memory format")
            }
        }
    }

    // MARK: Loading

    /// Copies `state` into this module's parameters and buffers (as PyTorch's
    /// `load_state_dict(strict=True)`). Missing, unexpected or mis-shaped keys are reported
    /// together in one `StateDictError`; nothing is modified unless every key matches.
    public func load(stateDict state: [String: Tensor]) throws {
        let own = stateDict()
        let ownNames = Set(own.map(\.name))
        var problems = StateDictError(missing: [], unexpected: [], mismatched: [])
        for (name, tensor) in own {
            guard let value = state[name] else {
                problems.missing.append(name)
                continue
            }
            if value.shape != tensor.shape {
                problems.mismatched.append(.init(name: name, expected: tensor.shape, found: value.shape))
            }
        }
        problems.unexpected = state.keys.filter { !ownNames.contains($0) }.sorted()
        guard problems.isEmpty else { throw problems }
        try withoutGrad {
            for (name, tensor) in own {
                try tensor.copy(from: state[name]!)
            }
        }
    }
}

/// A state dictionary that does not fit a module.
public struct StateDictError: Error, CustomStringConvertible {
    /// A key whose tensor has the wrong shape.
    public struct Mismatch: Sendable {
        public var name: String
        public var expected: [Int]
        public var found: [Int]
    }

    /// Keys the module has and the state lacks.
    public var missing: [String]
    /// Keys the state has and the module lacks.
    public var unexpected: [String]
    /// Keys present in both with different shapes.
    public var mismatched: [Mismatch]

    var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    public var description: String {
        var lines = ["the state dict does not match the model:"]
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            let shown = items.prefix(20).joined(separator: ", ")
            let more = items.count > 20 ? " ... and \(items.count - 20) more" : ""
            lines.append("  \(title) (\(items.count)): \(shown)\(more)")
        }
        list("missing keys", missing)
        list("unexpected keys", unexpected)
        list("mis-shaped keys", mismatched.map { "\($0.name) expected \($0.expected) found \($0.found)" })
        return lines.joined(separator: "\n")
    }
}
