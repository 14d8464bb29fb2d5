"""Minimal ctypes binding of native/include/engine_native.h for scripts (benchmarks, device checks)."""
import ctypes as C

import numpy as np


class _Ctx(C.Structure):
    _fields_ = [("device_kind", C.c_int32), ("device_ordinal", C.c_int32), ("num_threads", C.c_int32)]


class _Cfg(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                                         "num_kv_heads", "head_dim", "tie_word_embeddings")] + \
               [("rms_norm_eps", C.c_double), ("rope_theta", C.c_double), ("compute_dtype", C.c_int32), ("loss_chunk_tokens", C.c_int32)]


class _Batch(C.Structure):
    _fields_ = [("tokens", C.c_void_p), ("labels", C.c_void_p), ("doc_lengths", C.c_void_p), ("num_tokens", C.c_int32), ("num_docs", C.c_int32)]


class _Info(C.Structure):
    _fields_ = [("name", C.c_char * 96), ("offset", C.c_int64), ("numel", C.c_int64), ("ndim", C.c_int32),
                ("shape", C.c_int32 * 2), ("weight_decay", C.c_int32)]


class _Adam(C.Structure):
    _fields_ = [(n, C.c_double) for n in ("lr", "beta1", "beta2", "eps", "weight_decay", "max_grad_norm")] + [("step", C.c_int64)]


class Model:
    """A native Qwen2 model on the CPU: cfg is a dict with the eng_model_config field names."""

    def __init__(self, lib_path, cfg, threads, dtype=0, chunk=64):
        self.lib = C.CDLL(lib_path)
        self.ctx, self.stream, self.model = C.c_void_p(), C.c_void_p(), C.c_void_p()
        self._check(self.lib.eng_context_create(C.byref(self.ctx), C.byref(_Ctx(0, 0, threads))))
        self._check(self.lib.eng_stream_create(C.byref(self.stream), self.ctx))
        c = _Cfg(cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"], cfg["num_layers"], cfg["num_heads"],
                 cfg["num_kv_heads"], 0, int(cfg["tie_word_embeddings"]), cfg["rms_norm_eps"], cfg["rope_theta"], dtype, chunk)
        self._check(self.lib.eng_model_create(C.byref(self.model), self.ctx, C.byref(c)))
        n = C.c_int32()
        self._check(self.lib.eng_model_tensor_count(C.byref(n), self.model))
        self.tensors = []
        for i in range(n.value):
            info = _Info()
            self._check(self.lib.eng_model_tensor_info(C.byref(info), self.model, i))
            shape = tuple(info.shape[:info.ndim])
            self.tensors.append((info.name.decode(), info.offset, info.numel, shape))

    def _check(self, status):
        if status != 0:
            buf = C.create_string_buffer(1000)
            self.lib.eng_last_error(buf, 1000)
            raise RuntimeError(buf.value.decode())

    def write_params(self, name_to_array):
        for name, off, numel, _ in self.tensors:
            a = np.ascontiguousarray(name_to_array[name], dtype=np.float32).reshape(-1)
            assert a.size == numel, name
            self._check(self.lib.eng_model_write(self.model, 0, a.ctypes.data_as(C.c_void_p), 0, C.c_int64(off), C.c_int64(numel), self.stream))

    def read(self, buffer, name):
        for n, off, numel, shape in self.tensors:
            if n == name:
                out = np.zeros(numel, dtype=np.float64)
                self._check(self.lib.eng_model_read(out.ctypes.data_as(C.c_void_p), 1, self.model, buffer, C.c_int64(off), C.c_int64(numel), self.stream))
                return out.reshape(shape)
        raise KeyError(name)

    def zero_grads(self):
        self._check(self.lib.eng_model_zero_grads(self.model, self.stream))

    def forward_backward(self, tokens, labels, doc_lengths, scale, backward=True):
        t = np.ascontiguousarray(tokens, dtype=np.int32)
        l = np.ascontiguousarray(labels, dtype=np.int32)
        d = np.ascontiguousarray(doc_lengths, dtype=np.int32)
        b = _Batch(t.ctypes.data, l.ctypes.data, d.ctypes.data, len(t), len(d))
        s, v = C.c_double(), C.c_int64()
        self._check(self.lib.eng_model_forward_backward(C.byref(s), C.byref(v), None, self.model, C.byref(b), C.c_double(scale), int(backward), self.stream))
        return s.value, v.value
