/*
 * test_kernels.cu: the kernels of tests/test_cuda.c's hand-written plans, in
 * CUDA C written the way codegen/ writes it (extern "C", one thread per
 * element, shapes baked into names and bodies), compiled on the host
 * against codegen/shim/cuda_shim.h by build_kernels.sh for the fake driver.
 * Each launch covers exactly its elements: grid x block threads.
 */

/* y = max(x, 0) */
extern "C" __global__ void __launch_bounds__(1024) relu_f32(const float *__restrict__ x, float *__restrict__ y) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* float16 ReLU on the bits: negative values (sign set) become +0 */
extern "C" __global__ void __launch_bounds__(1024) relu_f16(const __half *__restrict__ x, __half *__restrict__ y) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i].x = (x[i].x & 0x8000) ? 0 : x[i].x;
}

/* y[i] = x[i] + b[i % 16] */
extern "C" __global__ void __launch_bounds__(1024) bias_f32_16(const float *__restrict__ x, const float *__restrict__ b,
                                                                float *__restrict__ y) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  y[i] = x[i] + b[i % 16];
}

/* y = x through shared memory: thread t stages element t in slot n-1-t and
 * stores element n-1-t from slot t, which another thread filled, so the
 * barrier matters. */
extern "C" __global__ void __launch_bounds__(1024) copy_smem_f32(const float *__restrict__ x, float *__restrict__ y) {
  __shared__ float tile[1024];
  unsigned t = threadIdx.x, n = blockDim.x, base = blockIdx.x * n;
  tile[n - 1 - t] = x[base + t];
  __syncthreads();
  y[base + n - 1 - t] = tile[t];
}
