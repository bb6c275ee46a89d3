// The libtorch shim: the C functions of ctorch.h over ATen, autograd and c10d.
//
// Every entry point runs its body inside CT_GUARD, which turns any C++ exception into a
// non-zero status and a thread-local message. Nothing here throws across the C boundary.

#include "ctorch.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#ifdef CTORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

struct CTTensor {
    at::Tensor tensor;
};
struct CTGenerator {
    at::Generator generator;
};
struct CTStore {
    c10::intrusive_ptr<c10d::Store> store;
};
struct CTProcessGroup {
    c10::intrusive_ptr<c10d::Backend> backend;
    std::chrono::milliseconds timeout;
};
struct CTGradientReducer;

namespace {

thread_local std::string lastError;
std::atomic<int64_t> liveTensors{0};

void setError(const char *message) { lastError = message ? message : "unknown error"; }

CTTensor *wrap(at::Tensor tensor) {
    liveTensors.fetch_add(1, std::memory_order_relaxed);
    return new CTTensor{std::move(tensor)};
}

const at::Tensor &unwrap(const CTTensor *handle) {
    TORCH_CHECK(handle != nullptr, "a null tensor handle was passed to the shim");
    return handle->tensor;
}

at::ScalarType scalarType(int32_t code) {
    switch (code) {
    case CT_DTYPE_UINT8: case CT_DTYPE_INT8: case CT_DTYPE_INT16: case CT_DTYPE_INT32:
    case CT_DTYPE_INT64: case CT_DTYPE_FLOAT16: case CT_DTYPE_FLOAT32: case CT_DTYPE_FLOAT64:
    case CT_DTYPE_BOOL: case CT_DTYPE_BFLOAT16:
        return static_cast<at::ScalarType>(code);
    default:
        TORCH_CHECK(false, "unsupported dtype code ", code);
    }
}

at::DeviceType deviceType(int32_t code) {
    switch (code) {
    case CT_DEVICE_CPU: return at::kCPU;
    case CT_DEVICE_CUDA: return at::kCUDA;
    default: TORCH_CHECK(false, "unsupported device type code ", code);
    }
}

c10::MemoryFormat memoryFormat(int64_t code) {
    switch (code) {
    case CT_MEMORY_FORMAT_CONTIGUOUS: return c10::MemoryFormat::Contiguous;
    case CT_MEMORY_FORMAT_PRESERVE: return c10::MemoryFormat::Preserve;
    case CT_MEMORY_FORMAT_CHANNELS_LAST: return c10::MemoryFormat::ChannelsLast;
    case CT_MEMORY_FORMAT_CHANNELS_LAST_3D: return c10::MemoryFormat::ChannelsLast3d;
    default: TORCH_CHECK(false, "unsupported memory format code ", code);
    }
}

std::vector<int64_t> sizesOf(const int64_t *sizes, int64_t count) {
    TORCH_CHECK(count >= 0 && count <= 64, "dimension count ", count, " out of range");
    TORCH_CHECK(count == 0 || sizes != nullptr, "null sizes");
    std::vector<int64_t> result(sizes, sizes + count);
    for (auto size : result) TORCH_CHECK(size >= 0, "negative size ", size);
    return result;
}

} // namespace

#define CT_GUARD(...)                                                                             \
    try {                                                                                         \
        __VA_ARGS__;                                                                              \
        return 0;                                                                                 \
    } catch (const c10::Error &error) {                                                           \
        setError(error.what_without_backtrace());                                                 \
        return 1;                                                                                 \
    } catch (const std::exception &error) {                                                       \
        setError(error.what());                                                                   \
        return 1;                                                                                 \
    } catch (...) {                                                                               \
        setError("unknown C++ exception in libtorch");                                            \
        return 1;                                                                                 \
    }

// The definitions below have C linkage through their declarations in ctorch.h.

const char *ct_last_error(void) { return lastError.c_str(); }

void ct_free(void *pointer) { std::free(pointer); }

const char *ct_torch_version(void) { return TORCH_VERSION; }

int64_t ct_live_tensor_count(void) { return liveTensors.load(std::memory_order_relaxed); }

// MARK: Tensors

CTStatus ct_tensor_from_data(const void *data, int64_t byte_count, int32_t dtype,
                             const int64_t *sizes, int64_t dimension_count, bool pinned,
                             CTTensor **result) {
    CT_GUARD({
        auto options = at::TensorOptions().dtype(scalarType(dtype)).pinned_memory(pinned);
        auto tensor = at::empty(sizesOf(sizes, dimension_count), options);
        auto expected = static_cast<int64_t>(tensor.nbytes());
        TORCH_CHECK(byte_count == expected, "expected ", expected, " bytes of data for shape ",
                    tensor.sizes(), ", got ", byte_count);
        TORCH_CHECK(byte_count == 0 || data != nullptr, "null data pointer");
        if (byte_count > 0) std::memcpy(tensor.data_ptr(), data, byte_count);
        *result = wrap(std::move(tensor));
    })
}

CTStatus ct_tensor_empty(int32_t dtype, const int64_t *sizes, int64_t dimension_count, bool pinned,
                         CTTensor **result) {
    CT_GUARD({
        auto options = at::TensorOptions().dtype(scalarType(dtype)).pinned_memory(pinned);
        *result = wrap(at::empty(sizesOf(sizes, dimension_count), options));
    })
}

CTStatus ct_tensor_share(const CTTensor *tensor, CTTensor **result) {
    CT_GUARD({ *result = wrap(unwrap(tensor)); })
}

void ct_tensor_free(CTTensor *tensor) {
    if (tensor == nullptr) return;
    liveTensors.fetch_sub(1, std::memory_order_relaxed);
    delete tensor;
}

CTStatus ct_tensor_dimension_count(const CTTensor *tensor, int64_t *result) {
    CT_GUARD({ *result = unwrap(tensor).dim(); })
}

CTStatus ct_tensor_sizes(const CTTensor *tensor, int64_t *result, int64_t capacity) {
    CT_GUARD({
        auto sizes = unwrap(tensor).sizes();
        TORCH_CHECK(static_cast<int64_t>(sizes.size()) <= capacity, "sizes buffer too small");
        std::copy(sizes.begin(), sizes.end(), result);
    })
}

CTStatus ct_tensor_strides(const CTTensor *tensor, int64_t *result, int64_t capacity) {
    CT_GUARD({
        auto strides = unwrap(tensor).strides();
        TORCH_CHECK(static_cast<int64_t>(strides.size()) <= capacity, "strides buffer too small");
        std::copy(strides.begin(), strides.end(), result);
    })
}

CTStatus ct_tensor_dtype(const CTTensor *tensor, int32_t *result) {
    CT_GUARD({ *result = static_cast<int32_t>(unwrap(tensor).scalar_type()); })
}

CTStatus ct_tensor_device(const CTTensor *tensor, int32_t *type, int32_t *index) {
    CT_GUARD({
        auto device = unwrap(tensor).device();
        switch (device.type()) {
        case at::kCPU: *type = CT_DEVICE_CPU; break;
        case at::kCUDA: *type = CT_DEVICE_CUDA; break;
        default: TORCH_CHECK(false, "tensor on unsupported device ", device);
        }
        *index = device.has_index() ? device.index() : 0;
    })
}

CTStatus ct_tensor_is_contiguous(const CTTensor *tensor, int32_t memory_format, bool *result) {
    CT_GUARD({ *result = unwrap(tensor).is_contiguous(memoryFormat(memory_format)); })
}

CTStatus ct_tensor_copy_to(const CTTensor *tensor, void *destination, int64_t byte_count) {
    CT_GUARD({
        auto source = unwrap(tensor).detach().to(at::kCPU).contiguous();
        auto expected = static_cast<int64_t>(source.nbytes());
        TORCH_CHECK(byte_count == expected, "copy of ", expected, " bytes into a buffer of ",
                    byte_count);
        if (byte_count > 0) std::memcpy(destination, source.data_ptr(), byte_count);
    })
}

CTStatus ct_tensor_data_pointer(const CTTensor *tensor, void **result) {
    CT_GUARD({
        const auto &value = unwrap(tensor);
        TORCH_CHECK(value.device().is_cpu(), "data pointer of a tensor on ", value.device());
        TORCH_CHECK(value.is_contiguous(), "data pointer of a non-contiguous tensor");
        *result = value.data_ptr();
    })
}

CTStatus ct_tensor_item_double(const CTTensor *tensor, double *result) {
    CT_GUARD({ *result = unwrap(tensor).item<double>(); })
}

CTStatus ct_tensor_item_int64(const CTTensor *tensor, int64_t *result) {
    CT_GUARD({ *result = unwrap(tensor).item<int64_t>(); })
}

// MARK: Autograd

CTStatus ct_tensor_requires_grad(const CTTensor *tensor, bool *result) {
    CT_GUARD({ *result = unwrap(tensor).requires_grad(); })
}

CTStatus ct_tensor_set_requires_grad(CTTensor *tensor, bool requires_grad) {
    CT_GUARD({ unwrap(tensor).set_requires_grad(requires_grad); })
}

CTStatus ct_tensor_grad(const CTTensor *tensor, CTTensor **result) {
    CT_GUARD({
        auto grad = unwrap(tensor).grad();
        *result = grad.defined() ? wrap(std::move(grad)) : nullptr;
    })
}

CTStatus ct_tensor_set_grad(CTTensor *tensor, const CTTensor *gradient) {
    CT_GUARD({
        auto &variable = const_cast<at::Tensor &>(unwrap(tensor));
        variable.mutable_grad() = gradient ? unwrap(gradient) : at::Tensor();
    })
}

CTStatus ct_tensor_set_data(CTTensor *tensor, const CTTensor *data) {
    CT_GUARD({
        auto &variable = const_cast<at::Tensor &>(unwrap(tensor));
        variable.set_data(unwrap(data));
    })
}

CTStatus ct_backward(CTTensor *const *roots, const CTTensor *const *gradients, int64_t count,
                     bool retain_graph) {
    CT_GUARD({
        TORCH_CHECK(count > 0 && roots != nullptr, "backward needs at least one tensor");
        std::vector<at::Tensor> tensors, grads;
        for (int64_t i = 0; i < count; ++i) {
            tensors.push_back(unwrap(roots[i]));
            grads.push_back(gradients && gradients[i] ? unwrap(gradients[i]) : at::Tensor());
        }
        torch::autograd::backward(tensors, grads, retain_graph);
    })
}

bool ct_grad_enabled(void) { return at::GradMode::is_enabled(); }

void ct_set_grad_enabled(bool enabled) { at::GradMode::set_enabled(enabled); }

CTStatus ct_autocast_enter(int32_t device_type, int32_t dtype, bool *previous_enabled,
                           int32_t *previous_dtype) {
    CT_GUARD({
        auto device = deviceType(device_type);
        *previous_enabled = at::autocast::is_autocast_enabled(device);
        *previous_dtype = static_cast<int32_t>(at::autocast::get_autocast_dtype(device));
        at::autocast::set_autocast_enabled(device, true);
        at::autocast::set_autocast_dtype(device, scalarType(dtype));
        at::autocast::increment_nesting();
    })
}

CTStatus ct_autocast_exit(int32_t device_type, bool previous_enabled, int32_t previous_dtype) {
    CT_GUARD({
        auto device = deviceType(device_type);
        if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
        at::autocast::set_autocast_enabled(device, previous_enabled);
        at::autocast::set_autocast_dtype(device, scalarType(previous_dtype));
    })
}

// MARK: Operators

namespace {

c10::OperatorHandle findOperator(const char *name, const char *overload) {
    static std::mutex mutex;
    static std::unordered_map<std::string, c10::OperatorHandle> cache;
    std::string key = std::string(name) + "." + overload;
    std::lock_guard<std::mutex> lock(mutex);
    auto found = cache.find(key);
    if (found != cache.end()) return found->second;
    auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
    TORCH_CHECK(handle.has_value(), "no operator ", name, overload[0] ? "." : "", overload,
                " in this libtorch");
    cache.emplace(key, *handle);
    return *handle;
}

template <typename T> std::vector<T> listOf(const CTValue &value) {
    TORCH_CHECK(value.count >= 0, "negative list length");
    TORCH_CHECK(value.count == 0 || value.list != nullptr, "null list");
    auto begin = static_cast<const T *>(value.list);
    return std::vector<T>(begin, begin + value.count);
}

c10::IValue toIValue(const CTValue &value) {
    switch (value.kind) {
    case CT_VALUE_NONE: return c10::IValue();
    case CT_VALUE_TENSOR:
        if (value.object == nullptr) return c10::IValue();
        return c10::IValue(static_cast<CTTensor *>(value.object)->tensor);
    case CT_VALUE_INT: return c10::IValue(value.integer);
    case CT_VALUE_DOUBLE: return c10::IValue(value.real);
    case CT_VALUE_BOOL: return c10::IValue(value.integer != 0);
    case CT_VALUE_INT_LIST: return c10::IValue(listOf<int64_t>(value));
    case CT_VALUE_DOUBLE_LIST: return c10::IValue(listOf<double>(value));
    case CT_VALUE_BOOL_LIST: {
        c10::List<bool> list;
        for (auto flag : listOf<uint8_t>(value)) list.push_back(flag != 0);
        return c10::IValue(list);
    }
    case CT_VALUE_TENSOR_LIST: {
        c10::List<at::Tensor> list;
        for (auto handle : listOf<const CTTensor *>(value)) list.push_back(unwrap(handle));
        return c10::IValue(list);
    }
    case CT_VALUE_OPTIONAL_TENSOR_LIST: {
        c10::List<std::optional<at::Tensor>> list;
        for (auto handle : listOf<const CTTensor *>(value)) {
            list.push_back(handle ? std::optional<at::Tensor>(handle->tensor) : std::nullopt);
        }
        return c10::IValue(list);
    }
    case CT_VALUE_STRING:
        TORCH_CHECK(value.string != nullptr, "null string");
        return c10::IValue(std::string(value.string));
    case CT_VALUE_DEVICE:
        return c10::IValue(c10::Device(deviceType(static_cast<int32_t>(value.integer)),
                                       static_cast<c10::DeviceIndex>(value.count)));
    case CT_VALUE_GENERATOR:
        TORCH_CHECK(value.object != nullptr, "null generator");
        return c10::IValue(static_cast<CTGenerator *>(value.object)->generator);
    case CT_VALUE_SCALAR_TYPE:
        return c10::IValue(scalarType(static_cast<int32_t>(value.integer)));
    case CT_VALUE_MEMORY_FORMAT: return c10::IValue(memoryFormat(value.integer));
    default: TORCH_CHECK(false, "unknown argument kind ", value.kind);
    }
}

void fromIValue(c10::IValue value, CTValue &result) {
    result = CTValue{};
    if (value.isNone()) {
        result.kind = CT_VALUE_NONE;
    } else if (value.isTensor()) {
        auto tensor = value.toTensor();
        if (tensor.defined()) {
            result.kind = CT_VALUE_TENSOR;
            result.object = wrap(std::move(tensor));
        } else {
            result.kind = CT_VALUE_NONE;
        }
    } else if (value.isTensorList()) {
        auto list = value.toTensorVector();
        auto array = static_cast<CTTensor **>(std::calloc(list.size() + 1, sizeof(CTTensor *)));
        TORCH_CHECK(array != nullptr, "out of memory");
        for (size_t i = 0; i < list.size(); ++i) array[i] = wrap(list[i]);
        result.kind = CT_VALUE_TENSOR_LIST;
        result.list = array;
        result.count = static_cast<int64_t>(list.size());
    } else if (value.isInt()) {
        result.kind = CT_VALUE_INT;
        result.integer = value.toInt();
    } else if (value.isDouble()) {
        result.kind = CT_VALUE_DOUBLE;
        result.real = value.toDouble();
    } else if (value.isBool()) {
        result.kind = CT_VALUE_BOOL;
        result.integer = value.toBool() ? 1 : 0;
    } else {
        TORCH_CHECK(false, "operator returned a value of unsupported type ", value.tagKind());
    }
}

} // namespace

CTStatus ct_call(const char *name, const char *overload, const CTValue *arguments,
                 int64_t argument_count, CTValue *results, int64_t capacity,
                 int64_t *result_count) {
    CT_GUARD({
        TORCH_CHECK(name != nullptr && overload != nullptr, "null operator name");
        auto op = findOperator(name, overload);
        const auto &schema = op.schema();
        TORCH_CHECK(argument_count >= 0 &&
                        argument_count <= static_cast<int64_t>(schema.arguments().size()),
                    schema.name(), " takes ", schema.arguments().size(), " arguments, got ",
                    argument_count);
        std::vector<c10::IValue> stack;
        stack.reserve(schema.arguments().size());
        for (int64_t i = 0; i < argument_count; ++i) stack.push_back(toIValue(arguments[i]));
        // Fills trailing defaults and checks every argument's type against the schema, so a
        // mistyped call is an error message, never undefined behaviour in a kernel.
        schema.checkAndNormalizeInputs(stack);
        op.callBoxed(stack);
        TORCH_CHECK(static_cast<int64_t>(stack.size()) <= capacity, schema.name(), " returned ",
                    stack.size(), " values, room for ", capacity);
        int64_t written = 0;
        try {
            for (; written < static_cast<int64_t>(stack.size()); ++written) {
                fromIValue(std::move(stack[written]), results[written]);
            }
        } catch (...) {
            for (int64_t i = 0; i < written; ++i) {
                if (results[i].kind == CT_VALUE_TENSOR) {
                    ct_tensor_free(static_cast<CTTensor *>(results[i].object));
                } else if (results[i].kind == CT_VALUE_TENSOR_LIST) {
                    auto array = static_cast<CTTensor *const *>(results[i].list);
                    for (int64_t j = 0; j < results[i].count; ++j) ct_tensor_free(array[j]);
                    std::free(const_cast<void *>(results[i].list));
                }
            }
            throw;
        }
        *result_count = written;
    })
}

// MARK: Random numbers

CTStatus ct_generator_new(int32_t device_type, int32_t device_index, uint64_t seed,
                          CTGenerator **result) {
    CT_GUARD({
        at::Generator generator;
        if (deviceType(device_type) == at::kCPU) {
            generator = at::make_generator<at::CPUGeneratorImpl>(seed);
        } else {
            generator = at::detail::getCUDAHooks().getNewGenerator(
                static_cast<c10::DeviceIndex>(device_index));
            generator.set_current_seed(seed);
        }
        *result = new CTGenerator{std::move(generator)};
    })
}

void ct_generator_free(CTGenerator *generator) { delete generator; }

CTStatus ct_generator_set_seed(CTGenerator *generator, uint64_t seed) {
    CT_GUARD({
        TORCH_CHECK(generator != nullptr, "null generator");
        std::lock_guard<std::mutex> lock(generator->generator.mutex());
        generator->generator.set_current_seed(seed);
    })
}

CTStatus ct_generator_state(CTGenerator *generator, CTTensor **result) {
    CT_GUARD({
        TORCH_CHECK(generator != nullptr, "null generator");
        std::lock_guard<std::mutex> lock(generator->generator.mutex());
        *result = wrap(generator->generator.get_state());
    })
}

CTStatus ct_generator_set_state(CTGenerator *generator, const CTTensor *state) {
    CT_GUARD({
        TORCH_CHECK(generator != nullptr, "null generator");
        std::lock_guard<std::mutex> lock(generator->generator.mutex());
        generator->generator.set_state(unwrap(state));
    })
}

CTStatus ct_manual_seed(uint64_t seed) {
    CT_GUARD({
        auto cpu = at::detail::getDefaultCPUGenerator();
        {
            std::lock_guard<std::mutex> lock(cpu.mutex());
            cpu.set_current_seed(seed);
        }
        if (at::hasCUDA()) {
            auto count = at::detail::getCUDAHooks().deviceCount();
            for (c10::DeviceIndex i = 0; i < count; ++i) {
                auto generator = at::globalContext().defaultGenerator(at::Device(at::kCUDA, i));
                std::lock_guard<std::mutex> lock(generator.mutex());
                generator.set_current_seed(seed);
            }
        }
    })
}

// MARK: Runtime settings

int32_t ct_num_threads(void) { return at::get_num_threads(); }

void ct_set_num_threads(int32_t count) {
    if (count > 0) at::set_num_threads(count);
}

bool ct_cuda_is_available(void) {
    try {
        return at::hasCUDA() && at::detail::getCUDAHooks().deviceCount() > 0;
    } catch (...) {
        return false;
    }
}

int32_t ct_cuda_device_count(void) {
    try {
        return at::hasCUDA() ? at::detail::getCUDAHooks().deviceCount() : 0;
    } catch (...) {
        return 0;
    }
}

CTStatus ct_cuda_synchronize(int32_t device_index) {
    CT_GUARD({
        TORCH_CHECK(at::hasCUDA(), "CUDA is not available");
        at::detail::getCUDAHooks().deviceSynchronize(static_cast<c10::DeviceIndex>(device_index));
    })
}

CTStatus ct_cuda_set_device(int32_t device_index) {
    CT_GUARD({
        TORCH_CHECK(at::hasCUDA(), "CUDA is not available");
        c10::impl::getDeviceGuardImpl(at::kCUDA)
            ->setDevice(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_index)));
    })
}

void ct_set_cudnn_benchmark(bool enabled) { at::globalContext().setBenchmarkCuDNN(enabled); }

// TF32 is set through the setters behind torch.backends.cudnn.allow_tf32 and
// torch.backends.cuda.matmul.allow_tf32 (they keep libtorch's old and new precision settings in
// step) and read from the per-operation precision table that the convolution and matrix-product
// kernels consult.
bool ct_allow_tf32_cudnn(void) {
    return at::globalContext().float32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV) ==
           at::Float32Precision::TF32;
}

void ct_set_allow_tf32_cudnn(bool enabled) { at::globalContext().setAllowTF32CuDNN(enabled); }

bool ct_allow_tf32_cublas(void) {
    return at::globalContext().float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL) ==
           at::Float32Precision::TF32;
}

void ct_set_allow_tf32_cublas(bool enabled) { at::globalContext().setAllowTF32CuBLAS(enabled); }

CTStatus ct_cuda_peak_memory(int32_t device_index, int64_t *result) {
    CT_GUARD({
#ifdef CTORCH_WITH_CUDA
        TORCH_CHECK(at::hasCUDA(), "CUDA is not available");
        auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
            static_cast<c10::DeviceIndex>(device_index));
        *result = stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
#else
        *result = 0;
#endif
    })
}

CTStatus ct_cuda_reset_peak_memory(int32_t device_index) {
    CT_GUARD({
#ifdef CTORCH_WITH_CUDA
        TORCH_CHECK(at::hasCUDA(), "CUDA is not available");
        c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device_index));
#endif
    })
}

bool ct_has_nccl(void) {
#ifdef USE_C10D_NCCL
    return true;
#else
    return false;
#endif
}

// MARK: Distributed

CTStatus ct_store_tcp_new(const char *host, int32_t port, int32_t world_size, bool is_server,
                          int64_t timeout_ms, CTStore **result) {
    CT_GUARD({
        TORCH_CHECK(host != nullptr, "null host");
        TORCH_CHECK(port > 0 && port < 65536, "port ", port, " out of range");
        c10d::TCPStoreOptions options;
        options.port = static_cast<uint16_t>(port);
        options.isServer = is_server;
        options.numWorkers = world_size;
        options.waitWorkers = false;
        options.timeout = std::chrono::milliseconds(timeout_ms);
        auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), options);
        *result = new CTStore{store};
    })
}

CTStatus ct_store_file_new(const char *path, int32_t world_size, CTStore **result) {
    CT_GUARD({
        TORCH_CHECK(path != nullptr, "null path");
        *result = new CTStore{c10::make_intrusive<c10d::FileStore>(std::string(path), world_size)};
    })
}

CTStatus ct_store_prefixed(CTStore *store, const char *prefix, CTStore **result) {
    CT_GUARD({
        TORCH_CHECK(store != nullptr && prefix != nullptr, "null store or prefix");
        *result = new CTStore{c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), store->store)};
    })
}

void ct_store_free(CTStore *store) { delete store; }

CTStatus ct_store_set(CTStore *store, const char *key, const void *value, int64_t byte_count) {
    CT_GUARD({
        TORCH_CHECK(store != nullptr && key != nullptr, "null store or key");
        auto bytes = static_cast<const uint8_t *>(value);
        store->store->set(key, std::vector<uint8_t>(bytes, bytes + byte_count));
    })
}

CTStatus ct_store_get(CTStore *store, const char *key, void **result, int64_t *byte_count) {
    CT_GUARD({
        TORCH_CHECK(store != nullptr && key != nullptr, "null store or key");
        auto bytes = store->store->get(key);
        auto buffer = std::malloc(bytes.size() + 1);
        TORCH_CHECK(buffer != nullptr, "out of memory");
        if (!bytes.empty()) std::memcpy(buffer, bytes.data(), bytes.size());
        *result = buffer;
        *byte_count = static_cast<int64_t>(bytes.size());
    })
}

CTStatus ct_store_add(CTStore *store, const char *key, int64_t amount, int64_t *result) {
    CT_GUARD({
        TORCH_CHECK(store != nullptr && key != nullptr, "null store or key");
        *result = store->store->add(key, amount);
    })
}

CTStatus ct_process_group_new(CTStore *store, int32_t rank, int32_t size, const char *backend,
                              int64_t timeout_ms, CTProcessGroup **result) {
    CT_GUARD({
        TORCH_CHECK(store != nullptr && backend != nullptr, "null store or backend");
        TORCH_CHECK(size > 0 && rank >= 0 && rank < size, "rank ", rank, " out of range for world size ", size);
        auto timeout = std::chrono::milliseconds(timeout_ms);
        std::string name(backend);
        if (name == "gloo") {
            // As PyTorch's Python binding: one device per interface in GLOO_SOCKET_IFNAME,
            // else the device for this host's name.
            auto options = c10d::ProcessGroupGloo::Options::create();
            const char *interfaces = std::getenv("GLOO_SOCKET_IFNAME");
            if (interfaces != nullptr && std::strlen(interfaces) > 0) {
                std::string list(interfaces);
                size_t start = 0;
                while (start <= list.size()) {
                    auto end = list.find(',', start);
                    if (end == std::string::npos) end = list.size();
                    if (end > start) {
                        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(
                            list.substr(start, end - start)));
                    }
                    start = end + 1;
                }
            } else {
                options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
            }
            options->timeout = timeout;
            options->threads = static_cast<int>(options->devices.size() * 2);
            auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store->store, rank, size, options);
            *result = new CTProcessGroup{group, timeout};
        } else if (name == "nccl") {
#ifdef USE_C10D_NCCL
            auto options = c10d::ProcessGroupNCCL::Options::create();
            options->timeout = timeout;
            auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store->store, rank, size, options);
            *result = new CTProcessGroup{group, timeout};
#else
            TORCH_CHECK(false, "this build has no NCCL support (libtorch without CUDA, or built "
                               "without the CUDA and NCCL headers)");
#endif
        } else {
            TORCH_CHECK(false, "unknown distributed backend '", name, "' (expected gloo or nccl)");
        }
    })
}

void ct_process_group_free(CTProcessGroup *group) { delete group; }

namespace {

std::vector<at::Tensor> tensorsOf(CTTensor *const *tensors, int64_t count) {
    TORCH_CHECK(count > 0 && tensors != nullptr, "collective needs at least one tensor");
    std::vector<at::Tensor> result;
    for (int64_t i = 0; i < count; ++i) result.push_back(unwrap(tensors[i]));
    return result;
}

c10d::ReduceOp reduceOp(int32_t code) {
    switch (code) {
    case CT_REDUCE_SUM: return c10d::ReduceOp(c10d::ReduceOp::SUM);
    case CT_REDUCE_AVG: return c10d::ReduceOp(c10d::ReduceOp::AVG);
    case CT_REDUCE_PRODUCT: return c10d::ReduceOp(c10d::ReduceOp::PRODUCT);
    case CT_REDUCE_MIN: return c10d::ReduceOp(c10d::ReduceOp::MIN);
    case CT_REDUCE_MAX: return c10d::ReduceOp(c10d::ReduceOp::MAX);
    default: TORCH_CHECK(false, "unknown reduce operation ", code);
    }
}

void finish(CTProcessGroup *group, const c10::intrusive_ptr<c10d::Work> &work) {
    TORCH_CHECK(work->wait(group->timeout), "collective did not finish within ",
                group->timeout.count(), " ms");
}

} // namespace

CTStatus ct_all_reduce(CTProcessGroup *group, CTTensor *const *tensors, int64_t count,
                       int32_t reduce_op) {
    CT_GUARD({
        TORCH_CHECK(group != nullptr, "null process group");
        auto list = tensorsOf(tensors, count);
        c10d::AllreduceOptions options;
        options.reduceOp = reduceOp(reduce_op);
        finish(group, group->backend->allreduce(list, options));
    })
}

CTStatus ct_broadcast(CTProcessGroup *group, CTTensor *const *tensors, int64_t count,
                      int32_t root) {
    CT_GUARD({
        TORCH_CHECK(group != nullptr, "null process group");
        auto list = tensorsOf(tensors, count);
        c10d::BroadcastOptions options;
        options.rootRank = root;
        finish(group, group->backend->broadcast(list, options));
    })
}

CTStatus ct_all_gather(CTProcessGroup *group, CTTensor *const *outputs, int64_t output_count,
                       CTTensor *input) {
    CT_GUARD({
        TORCH_CHECK(group != nullptr, "null process group");
        std::vector<std::vector<at::Tensor>> out{tensorsOf(outputs, output_count)};
        std::vector<at::Tensor> in{unwrap(input)};
        finish(group, group->backend->allgather(out, in));
    })
}

CTStatus ct_barrier(CTProcessGroup *group) {
    CT_GUARD({
        TORCH_CHECK(group != nullptr, "null process group");
        finish(group, group->backend->barrier());
    })
}


// MARK: Gradient all-reduce during backward

// DDP's overlap of communication with backward: a post-hook on each parameter's gradient
// accumulator marks the parameter ready once its gradient is complete; a bucket whose parameters
// are all ready is all-reduced at once, asynchronously, if every earlier bucket has been started
// (so that every rank starts the same collectives in the same order); finish() starts what is
// left and waits for all of it.
struct CTGradientReducer {
    CTProcessGroup *group;
    std::vector<at::Tensor> buckets;
    std::vector<int64_t> bucketOfParameter;
    std::vector<int64_t> pendingInBucket;
    std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
    std::vector<uintptr_t> hookKeys;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<bool> ready;
    size_t nextBucket = 0;
    int64_t startedDuringBackward = 0;
    bool armed = false;
    std::mutex mutex;

    void reset() {
        pendingInBucket.assign(buckets.size(), 0);
        for (auto bucket : bucketOfParameter) pendingInBucket[bucket] += 1;
        ready.assign(bucketOfParameter.size(), false);
        works.assign(buckets.size(), {});
        nextBucket = 0;
        startedDuringBackward = 0;
    }

    void start(size_t bucket) {
        std::vector<at::Tensor> tensors{buckets[bucket]};
        c10d::AllreduceOptions options;
        options.reduceOp = c10d::ReduceOp(c10d::ReduceOp::SUM);
        works[bucket] = group->backend->allreduce(tensors, options);
    }

    // Called by the autograd engine after parameter `index`'s gradient is accumulated.
    void markReady(size_t index) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!armed || ready[index]) return;
        ready[index] = true;
        pendingInBucket[bucketOfParameter[index]] -= 1;
        while (nextBucket < buckets.size() && pendingInBucket[nextBucket] == 0) {
            start(nextBucket);
            nextBucket += 1;
            startedDuringBackward += 1;
        }
    }
};

namespace {

struct ReadyHook : torch::autograd::FunctionPostHook {
    CTGradientReducer *reducer;
    size_t index;
    ReadyHook(CTGradientReducer *reducer, size_t index) : reducer(reducer), index(index) {}
    torch::autograd::variable_list operator()(const torch::autograd::variable_list &outputs,
                                              const torch::autograd::variable_list &) override {
        reducer->markReady(index);
        return outputs;
    }
};

} // namespace

CTStatus ct_gradient_reducer_new(CTProcessGroup *group, CTTensor *const *parameters,
                                 const int64_t *bucket_of_parameter, int64_t parameter_count,
                                 CTTensor *const *buckets, int64_t bucket_count,
                                 CTGradientReducer **result) {
    CT_GUARD({
        TORCH_CHECK(group != nullptr, "null process group");
        TORCH_CHECK(parameter_count > 0 && bucket_count > 0 && parameters && buckets && bucket_of_parameter,
                    "a gradient reducer needs parameters and buckets");
        auto reducer = std::make_unique<CTGradientReducer>();
        reducer->group = group;
        for (int64_t b = 0; b < bucket_count; ++b) {
            const auto &bucket = unwrap(buckets[b]);
            TORCH_CHECK(bucket.is_contiguous(), "gradient bucket ", b, " is not contiguous");
            reducer->buckets.push_back(bucket);
        }
        for (int64_t i = 0; i < parameter_count; ++i) {
            auto bucket = bucket_of_parameter[i];
            TORCH_CHECK(bucket >= 0 && bucket < bucket_count, "parameter ", i, " in bucket ", bucket,
                        " of ", bucket_count);
            const auto &parameter = unwrap(parameters[i]);
            TORCH_CHECK(parameter.requires_grad() && parameter.is_leaf(), "parameter ", i,
                        " is not a leaf that requires a gradient");
            reducer->bucketOfParameter.push_back(bucket);
            // Kept alive here: a leaf holds its accumulator weakly, and a new one would lose the hook.
            reducer->accumulators.push_back(torch::autograd::impl::grad_accumulator(parameter));
        }
        reducer->reset();
        for (size_t i = 0; i < reducer->accumulators.size(); ++i) {
            reducer->hookKeys.push_back(reducer->accumulators[i]->add_post_hook(
                std::make_unique<ReadyHook>(reducer.get(), i)));
        }
        *result = reducer.release();
    })
}

CTStatus ct_gradient_reducer_prepare(CTGradientReducer *reducer) {
    CT_GUARD({
        TORCH_CHECK(reducer != nullptr, "null gradient reducer");
        std::lock_guard<std::mutex> lock(reducer->mutex);
        reducer->reset();
        reducer->armed = true;
    })
}

CTStatus ct_gradient_reducer_finish(CTGradientReducer *reducer, int64_t *started_during_backward) {
    CT_GUARD({
        TORCH_CHECK(reducer != nullptr, "null gradient reducer");
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        {
            std::lock_guard<std::mutex> lock(reducer->mutex);
            TORCH_CHECK(reducer->armed, "the gradient reducer was not prepared for this backward pass");
            reducer->armed = false;
            *started_during_backward = reducer->startedDuringBackward;
            for (; reducer->nextBucket < reducer->buckets.size(); ++reducer->nextBucket) {
                reducer->start(reducer->nextBucket);
            }
            works = reducer->works;
        }
        for (auto &work : works) finish(reducer->group, work);
    })
}

void ct_gradient_reducer_free(CTGradientReducer *reducer) {
    if (reducer == nullptr) return;
    for (size_t i = 0; i < reducer->accumulators.size(); ++i) {
        reducer->accumulators[i]->del_post_hook(reducer->hookKeys[i]);
    }
    delete reducer;
}
