// TF1 AdamOptimizer's sparse update (`_apply_sparse_shared`) of a whole table in one in-place pass.
//
// TF1 applies a sparse gradient by summing duplicate rows, decaying the moments of EVERY row, adding the scaled
// gradient on the touched rows and moving every row:
//   m = m * beta1;  m[rows] += g * (1 - beta1)
//   v = v * beta2;  v[rows] += (g * g) * (1 - beta2)
//   var -= lr * m / (sqrt(v) + epsilon)        (lr already bias-corrected by the caller, as TF1 does in the graph)
// As separate TensorFlow ops that is five passes over three tables plus temporaries; here it is one pass that
// reads and writes each table once, with the same float32 operations in the same order (no FMA contraction:
// the library is compiled with -ffp-contract=off).

#include <cmath>
#include <cstring>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/util/work_sharder.h"

namespace recdoc {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Status;
using ::tensorflow::Tensor;
using ::tensorflow::Var;

REGISTER_OP("RecdocTf1SparseAdam")
    .Input("var: resource")
    .Input("m: resource")
    .Input("v: resource")
    .Input("lr: float")
    .Input("beta1: float")
    .Input("beta2: float")
    .Input("epsilon: float")
    .Input("values: float")
    .Input("indices: Tindices")
    .Attr("Tindices: {int32, int64}")
    .SetShapeFn(::tensorflow::shape_inference::NoOutputs);

namespace {

// A variable's buffer may be shared with a tensor read earlier (copy-on-write); write into a private copy then.
Status EnsurePrivateBuffer(OpKernelContext* ctx, Var* variable) {
  Tensor* tensor = variable->tensor();
  if (tensor->RefCountIsOne()) return ::tensorflow::OkStatus();
  Tensor copy;
  TF_RETURN_IF_ERROR(ctx->allocate_temp(tensor->dtype(), tensor->shape(), &copy));
  std::memcpy(copy.data(), tensor->data(), tensor->TotalBytes());
  *tensor = copy;
  return ::tensorflow::OkStatus();
}

float Scalar(OpKernelContext* ctx, int index) { return ctx->input(index).scalar<float>()(); }

struct Hyper {
  float lr, beta1, beta2, epsilon, one_minus_beta1, one_minus_beta2;
};

// Rows [begin, end): a plain function over raw pointers so that the compiler vectorises the inner loops.
void UpdateRows(float* __restrict p_data, float* __restrict m_data, float* __restrict v_data,
                const float* __restrict summed, const int32_t* __restrict slot, int64_t begin, int64_t end,
                int64_t dim, Hyper h) {
  for (int64_t row = begin; row < end; ++row) {
    float* __restrict p = p_data + row * dim;
    float* __restrict m = m_data + row * dim;
    float* __restrict v = v_data + row * dim;
    if (slot[row] >= 0) {
      const float* __restrict g = summed + static_cast<int64_t>(slot[row]) * dim;
      for (int64_t j = 0; j < dim; ++j) {
        const float m_t = m[j] * h.beta1 + g[j] * h.one_minus_beta1;
        const float v_t = v[j] * h.beta2 + (g[j] * g[j]) * h.one_minus_beta2;
        m[j] = m_t;
        v[j] = v_t;
        p[j] = p[j] - (h.lr * m_t) / (std::sqrt(v_t) + h.epsilon);
      }
    } else {
      for (int64_t j = 0; j < dim; ++j) {
        const float m_t = m[j] * h.beta1;
        const float v_t = v[j] * h.beta2;
        m[j] = m_t;
        v[j] = v_t;
        p[j] = p[j] - (h.lr * m_t) / (std::sqrt(v_t) + h.epsilon);
      }
    }
  }
}

}  // namespace

template <typename Index>
class Tf1SparseAdamOp : public OpKernel {
 public:
  explicit Tf1SparseAdamOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    ::tensorflow::core::RefCountPtr<Var> var, m, v;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 0), &var));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 1), &m));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 2), &v));
    OP_REQUIRES(ctx, var.get() != m.get() && var.get() != v.get() && m.get() != v.get(),
                ::tensorflow::errors::InvalidArgument("var, m and v must be three different variables"));
    for (int index = 3; index <= 6; ++index) {
      OP_REQUIRES(ctx, ::tensorflow::TensorShapeUtils::IsScalar(ctx->input(index).shape()),
                  ::tensorflow::errors::InvalidArgument("lr, beta1, beta2 and epsilon must be scalars"));
    }
    // Always var, then m, then v: the only op that takes these locks together, so no ordering can deadlock.
    ::tensorflow::mutex_lock lock_var(*var->mu());
    ::tensorflow::mutex_lock lock_m(*m->mu());
    ::tensorflow::mutex_lock lock_v(*v->mu());

    const Tensor& values = ctx->input(7);
    const Tensor& indices = ctx->input(8);
    const Tensor& table = *var->tensor();
    OP_REQUIRES(ctx, table.dims() == 2 && table.dtype() == ::tensorflow::DT_FLOAT,
                ::tensorflow::errors::InvalidArgument("var must be a float32 matrix"));
    OP_REQUIRES(ctx, m->tensor()->shape() == table.shape() && v->tensor()->shape() == table.shape(),
                ::tensorflow::errors::InvalidArgument("m and v must have var's shape"));
    const int64_t rows = table.dim_size(0);
    const int64_t dim = table.dim_size(1);
    OP_REQUIRES(ctx, indices.dims() == 1 && values.dims() == 2 && values.dim_size(0) == indices.dim_size(0) &&
                         values.dim_size(1) == dim,
                ::tensorflow::errors::InvalidArgument("values must be [len(indices), var's columns]"));

    // Sum duplicate rows in input order (as TF1's unsorted_segment_sum before its sparse update).
    const int64_t count = indices.dim_size(0);
    const auto index_flat = indices.flat<Index>();
    const float* value_data = values.flat<float>().data();
    std::vector<int32_t> slot(rows, -1);
    std::vector<float> summed;
    summed.reserve(count * dim);
    int32_t unique = 0;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t row = static_cast<int64_t>(index_flat(i));
      OP_REQUIRES(ctx, row >= 0 && row < rows,
                  ::tensorflow::errors::InvalidArgument("index ", row, " outside [0, ", rows, ")"));
      const float* source = value_data + i * dim;
      if (slot[row] < 0) {
        // 0 + a, not a: segment sums start from zero, which turns a -0.0 into +0.0.
        slot[row] = unique++;
        for (int64_t j = 0; j < dim; ++j) summed.push_back(0.0f + source[j]);
      } else {
        float* target = summed.data() + static_cast<int64_t>(slot[row]) * dim;
        for (int64_t j = 0; j < dim; ++j) target[j] += source[j];
      }
    }

    OP_REQUIRES_OK(ctx, EnsurePrivateBuffer(ctx, var.get()));
    OP_REQUIRES_OK(ctx, EnsurePrivateBuffer(ctx, m.get()));
    OP_REQUIRES_OK(ctx, EnsurePrivateBuffer(ctx, v.get()));
    float* p_data = var->tensor()->flat<float>().data();
    float* m_data = m->tensor()->flat<float>().data();
    float* v_data = v->tensor()->flat<float>().data();

    const float lr = Scalar(ctx, 3);
    const float beta1 = Scalar(ctx, 4);
    const float beta2 = Scalar(ctx, 5);
    const float epsilon = Scalar(ctx, 6);
    const float one_minus_beta1 = 1.0f - beta1;
    const float one_minus_beta2 = 1.0f - beta2;
    const float* summed_data = summed.data();
    const int32_t* slot_data = slot.data();

    auto update_rows = [=](int64_t begin, int64_t end) {
      UpdateRows(p_data, m_data, v_data, summed_data, slot_data, begin, end, dim,
                 Hyper{lr, beta1, beta2, epsilon, one_minus_beta1, one_minus_beta2});
    };
    const auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
    ::tensorflow::Shard(workers->num_threads, workers->workers, rows, /*cost_per_unit=*/dim * 12, update_rows);
  }
};

REGISTER_KERNEL_BUILDER(
    Name("RecdocTf1SparseAdam").Device(DEVICE_CPU).TypeConstraint<int32_t>("Tindices"),
    Tf1SparseAdamOp<int32_t>);
REGISTER_KERNEL_BUILDER(
    Name("RecdocTf1SparseAdam").Device(DEVICE_CPU).TypeConstraint<int64_t>("Tindices"),
    Tf1SparseAdamOp<int64_t>);

}  // namespace recdoc
