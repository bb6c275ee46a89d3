/*
 * ctorch.h: the plain C interface of the libtorch shim.
 *
 * Opaque handles only; no C++ type crosses this header. Every function that can fail returns a
 * CTStatus (0 on success) and, on failure, leaves a message in a thread-local buffer that
 * ct_last_error() returns. No C++ exception ever leaves the shim.
 *
 * Handles returned through out-parameters are owned by the caller and freed with the matching
 * *_free function. Scalar types use c10::ScalarType's numbering (see CT_DTYPE_*).
 */
#ifndef CTORCH_H
#define CTORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A tensor (an at::Tensor, with its autograd state).
typedef struct CTTensor CTTensor;
/// A random number generator (an at::Generator).
typedef struct CTGenerator CTGenerator;
/// A c10d key-value store (TCPStore or FileStore).
typedef struct CTStore CTStore;
/// A c10d process group (Gloo or NCCL).
typedef struct CTProcessGroup CTProcessGroup;

/// 0 on success; anything else is a failure whose message ct_last_error() returns.
typedef int32_t CTStatus;

/// The message of the last failed call on this thread ("" if none).
const char *ct_last_error(void);

/// Frees memory the shim allocated for a returned list.
void ct_free(void *pointer);

/// libtorch's version string, e.g. "2.11.0".
const char *ct_torch_version(void);

/// Number of tensor handles alive in this process (every handle made and not yet freed).
int64_t ct_live_tensor_count(void);

// MARK: Scalar types and devices (c10 numbering)

enum {
    CT_DTYPE_UINT8 = 0,
    CT_DTYPE_INT8 = 1,
    CT_DTYPE_INT16 = 2,
    CT_DTYPE_INT32 = 3,
    CT_DTYPE_INT64 = 4,
    CT_DTYPE_FLOAT16 = 5,
    CT_DTYPE_FLOAT32 = 6,
    CT_DTYPE_FLOAT64 = 7,
    CT_DTYPE_BOOL = 11,
    CT_DTYPE_BFLOAT16 = 15,
};

enum {
    CT_DEVICE_CPU = 0,
    CT_DEVICE_CUDA = 1,
};

// MARK: Tensors

/// A new tensor holding a copy of `data` (`byte_count` bytes, C-contiguous, native byte order).
/// `pinned` allocates page-locked host memory (only meaningful when CUDA is present).
CTStatus ct_tensor_from_data(const void *data, int64_t byte_count, int32_t dtype,
                             const int64_t *sizes, int64_t dimension_count, bool pinned,
                             CTTensor **result);
/// A new, uninitialised contiguous CPU tensor.
CTStatus ct_tensor_empty(int32_t dtype, const int64_t *sizes, int64_t dimension_count, bool pinned,
                         CTTensor **result);
/// A second handle to the same tensor (shares storage and autograd state).
CTStatus ct_tensor_share(const CTTensor *tensor, CTTensor **result);
void ct_tensor_free(CTTensor *tensor);

CTStatus ct_tensor_dimension_count(const CTTensor *tensor, int64_t *result);
/// Writes `dimension_count` sizes (resp. strides) into `result`.
CTStatus ct_tensor_sizes(const CTTensor *tensor, int64_t *result, int64_t capacity);
CTStatus ct_tensor_strides(const CTTensor *tensor, int64_t *result, int64_t capacity);
CTStatus ct_tensor_dtype(const CTTensor *tensor, int32_t *result);
CTStatus ct_tensor_device(const CTTensor *tensor, int32_t *type, int32_t *index);
CTStatus ct_tensor_is_contiguous(const CTTensor *tensor, int32_t memory_format, bool *result);
/// Copies the tensor's elements, C-contiguous and on the CPU, into `destination` (exactly
/// `byte_count` bytes, which must equal numel * element size).
CTStatus ct_tensor_copy_to(const CTTensor *tensor, void *destination, int64_t byte_count);
/// The address of the first element of a contiguous CPU tensor (valid while the tensor lives).
CTStatus ct_tensor_data_pointer(const CTTensor *tensor, void **result);
/// The value of a one-element tensor.
CTStatus ct_tensor_item_double(const CTTensor *tensor, double *result);
CTStatus ct_tensor_item_int64(const CTTensor *tensor, int64_t *result);

// MARK: Autograd

CTStatus ct_tensor_requires_grad(const CTTensor *tensor, bool *result);
CTStatus ct_tensor_set_requires_grad(CTTensor *tensor, bool requires_grad);
/// The accumulated gradient, or NULL in *result when there is none.
CTStatus ct_tensor_grad(const CTTensor *tensor, CTTensor **result);
/// Replaces the gradient (NULL clears it).
CTStatus ct_tensor_set_grad(CTTensor *tensor, const CTTensor *gradient);
/// Replaces the data of `tensor` with that of `data`, keeping its identity and autograd state
/// (as Python's `param.data = data`): used to move or convert a module's parameters in place.
CTStatus ct_tensor_set_data(CTTensor *tensor, const CTTensor *data);
/// Runs backward from `count` roots; `gradients` may be NULL or hold NULL entries (implicit 1).
CTStatus ct_backward(CTTensor *const *roots, const CTTensor *const *gradients, int64_t count,
                     bool retain_graph);
/// Gradient recording on this thread.
bool ct_grad_enabled(void);
void ct_set_grad_enabled(bool enabled);

/// Enters automatic mixed precision on this thread for `device_type`, casting to `dtype`;
/// writes the previous state, which ct_autocast_exit restores. Leaving the outermost scope
/// clears the cast cache.
CTStatus ct_autocast_enter(int32_t device_type, int32_t dtype, bool *previous_enabled,
                           int32_t *previous_dtype);
CTStatus ct_autocast_exit(int32_t device_type, bool previous_enabled, int32_t previous_dtype);

// MARK: Operators

/// Kinds of CTValue.
enum {
    CT_VALUE_NONE = 0,
    CT_VALUE_TENSOR = 1,        /* object: CTTensor* (NULL: undefined tensor / None) */
    CT_VALUE_INT = 2,           /* integer */
    CT_VALUE_DOUBLE = 3,        /* real */
    CT_VALUE_BOOL = 4,          /* integer (0 or 1) */
    CT_VALUE_INT_LIST = 5,      /* list: const int64_t*, count */
    CT_VALUE_DOUBLE_LIST = 6,   /* list: const double*, count */
    CT_VALUE_BOOL_LIST = 7,     /* list: const uint8_t*, count */
    CT_VALUE_TENSOR_LIST = 8,   /* list: CTTensor *const *, count */
    CT_VALUE_OPTIONAL_TENSOR_LIST = 9, /* as TENSOR_LIST, NULL entries are None */
    CT_VALUE_STRING = 10,       /* string */
    CT_VALUE_DEVICE = 11,       /* integer: device type, count: device index (-1: current) */
    CT_VALUE_GENERATOR = 12,    /* object: CTGenerator* */
    CT_VALUE_SCALAR_TYPE = 13,  /* integer: CT_DTYPE_* */
    CT_VALUE_MEMORY_FORMAT = 14,/* integer: CT_MEMORY_FORMAT_* */
};

enum {
    CT_MEMORY_FORMAT_CONTIGUOUS = 0,
    CT_MEMORY_FORMAT_PRESERVE = 1,
    CT_MEMORY_FORMAT_CHANNELS_LAST = 2,
    CT_MEMORY_FORMAT_CHANNELS_LAST_3D = 3,
};

/// An argument to, or a result of, an operator call.
typedef struct CTValue {
    int32_t kind;
    int64_t integer;
    double real;
    const void *list;
    int64_t count;
    const char *string;
    void *object;
} CTValue;

/// Calls the ATen operator `name` (e.g. "aten::conv3d") with overload `overload` ("" for the
/// default) through the dispatcher, autograd and autocast included. Results are written to
/// `results` (at most `capacity`); tensors in results are new handles owned by the caller, and
/// tensor lists are arrays the caller frees with ct_free after taking the handles.
CTStatus ct_call(const char *name, const char *overload, const CTValue *arguments,
                 int64_t argument_count, CTValue *results, int64_t capacity,
                 int64_t *result_count);

// MARK: Random numbers

CTStatus ct_generator_new(int32_t device_type, int32_t device_index, uint64_t seed,
                          CTGenerator **result);
void ct_generator_free(CTGenerator *generator);
CTStatus ct_generator_set_seed(CTGenerator *generator, uint64_t seed);
/// The generator's full state as a uint8 tensor, and its restoration.
CTStatus ct_generator_state(CTGenerator *generator, CTTensor **result);
CTStatus ct_generator_set_state(CTGenerator *generator, const CTTensor *state);
/// Seeds the default generators of every device.
CTStatus ct_manual_seed(uint64_t seed);

// MARK: Runtime settings

int32_t ct_num_threads(void);
void ct_set_num_threads(int32_t count);
bool ct_cuda_is_available(void);
int32_t ct_cuda_device_count(void);
CTStatus ct_cuda_synchronize(int32_t device_index);
CTStatus ct_cuda_set_device(int32_t device_index);
void ct_set_cudnn_benchmark(bool enabled);
/// Whether cuDNN convolutions may use TensorFloat-32 (torch.backends.cudnn.allow_tf32; libtorch's
/// default: true). The flag exists, and reads back, without CUDA too.
bool ct_allow_tf32_cudnn(void);
void ct_set_allow_tf32_cudnn(bool enabled);
/// Whether cuBLAS float32 matrix products may use TensorFloat-32
/// (torch.backends.cuda.matmul.allow_tf32; libtorch's default: false).
bool ct_allow_tf32_cublas(void);
void ct_set_allow_tf32_cublas(bool enabled);
/// Peak bytes allocated on a CUDA device since the last reset (0 without CUDA support).
CTStatus ct_cuda_peak_memory(int32_t device_index, int64_t *result);
CTStatus ct_cuda_reset_peak_memory(int32_t device_index);
/// Whether this build of the shim can create NCCL process groups.
bool ct_has_nccl(void);

// MARK: Distributed (c10d)

/// A TCP store; the process with `is_server` hosts it.
CTStatus ct_store_tcp_new(const char *host, int32_t port, int32_t world_size, bool is_server,
                          int64_t timeout_ms, CTStore **result);
/// A store in a shared file (all processes name the same path).
CTStatus ct_store_file_new(const char *path, int32_t world_size, CTStore **result);
/// A view of `store` whose keys all start with `prefix` (c10d's PrefixStore).
CTStatus ct_store_prefixed(CTStore *store, const char *prefix, CTStore **result);
void ct_store_free(CTStore *store);
CTStatus ct_store_set(CTStore *store, const char *key, const void *value, int64_t byte_count);
/// Waits up to the store's timeout for `key`; *result is a buffer freed with ct_free.
CTStatus ct_store_get(CTStore *store, const char *key, void **result, int64_t *byte_count);
CTStatus ct_store_add(CTStore *store, const char *key, int64_t amount, int64_t *result);

/// A process group over `store`; backend "gloo" or "nccl".
CTStatus ct_process_group_new(CTStore *store, int32_t rank, int32_t size, const char *backend,
                              int64_t timeout_ms, CTProcessGroup **result);
void ct_process_group_free(CTProcessGroup *group);

enum {
    CT_REDUCE_SUM = 0,
    CT_REDUCE_AVG = 1,
    CT_REDUCE_PRODUCT = 2,
    CT_REDUCE_MIN = 3,
    CT_REDUCE_MAX = 4,
};

/// In-place all-reduce of each tensor; waits for completion.
CTStatus ct_all_reduce(CTProcessGroup *group, CTTensor *const *tensors, int64_t count,
                       int32_t reduce_op);
/// In-place broadcast of each tensor from `root`; waits for completion.
CTStatus ct_broadcast(CTProcessGroup *group, CTTensor *const *tensors, int64_t count,
                      int32_t root);
/// Gathers `input` from every rank into `outputs` (one tensor per rank, in rank order).
CTStatus ct_all_gather(CTProcessGroup *group, CTTensor *const *outputs, int64_t output_count,
                       CTTensor *input);
CTStatus ct_barrier(CTProcessGroup *group);

/// All-reduce (sum) of gradients while backward runs, as DDP's reducer: parameter i's gradient
/// lies in bucket bucket_of_parameter[i] (each bucket a contiguous tensor the gradients are views
/// of); when all of a bucket's parameters have their gradient accumulated, and every earlier
/// bucket has been started, the bucket's all-reduce starts asynchronously.
typedef struct CTGradientReducer CTGradientReducer;
CTStatus ct_gradient_reducer_new(CTProcessGroup *group, CTTensor *const *parameters,
                                 const int64_t *bucket_of_parameter, int64_t parameter_count,
                                 CTTensor *const *buckets, int64_t bucket_count,
                                 CTGradientReducer **result);
/// Arms the reducer for the next backward pass.
CTStatus ct_gradient_reducer_prepare(CTGradientReducer *reducer);
/// Starts the buckets not started yet, in order, and waits for every bucket's all-reduce; writes
/// how many were started during backward.
CTStatus ct_gradient_reducer_finish(CTGradientReducer *reducer, int64_t *started_during_backward);
/// Removes the hooks and frees the reducer (the process group must outlive it).
void ct_gradient_reducer_free(CTGradientReducer *reducer);

#ifdef __cplusplus
}
#endif

#endif /* CTORCH_H */
