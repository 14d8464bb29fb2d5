// The per-op parity checks (see op_check.hpp). Every op runs on fixed small shapes that reach the awkward cases:
// a packed row of three documents (one of a single token), grouped-query heads, dimensions that are no multiple
// of a tile, repeated tokens, ignored labels, several classifier chunks.
#include "op_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda_ops.hpp"
#include "op_math.hpp"
#include "ops_attention.hpp"
#include "ops_classifier.hpp"
#include "ops_linear.hpp"
#include "ops_pointwise.hpp"
#include "qwen2.hpp"

namespace eng {
namespace {

template <typename T>
using Vec = std::vector<T>;

// Shapes of every check.
constexpr int64_t kN = 37, kC = 48, kH = 4, kKV = 2, kD = 16, kI = 80, kV = 97, kChunk = 8;
constexpr double kEps = 1e-6, kTheta = 10000.0;
const int32_t kDocLengths[] = {15, 1, 21};

const char* const kOps[] = {"embedding", "rmsnorm", "rope", "attention", "swiglu", "linear", "classifier_ce", "adamw"};
constexpr int32_t kOpCount = 8;

struct Inputs {
    std::mt19937_64 rng;
    explicit Inputs(uint64_t seed) : rng(seed) {}
    Vec<double> uniform(int64_t n, double lo = -1, double hi = 1) {
        std::uniform_real_distribution<double> u(lo, hi);
        Vec<double> v((size_t)n);
        for (double& x : v) x = u(rng);
        return v;
    }
    Vec<int32_t> ids(int64_t n, int32_t limit) {
        std::uniform_int_distribution<int32_t> u(0, limit - 1);
        Vec<int32_t> v((size_t)n);
        for (int32_t& x : v) x = u(rng);
        return v;
    }
};

template <typename T>
Vec<T> as(const Vec<double>& v) {
    return Vec<T>(v.begin(), v.end());
}

// The largest |a - r| and that over the largest |r| (the tensor's scale), over all pairs of tensors given.
struct Error2 {
    double abs = 0, scale = 0;
    template <typename A, typename R>
    void add(const Vec<A>& a, const Vec<R>& r) {
        for (size_t i = 0; i < r.size(); i++) {
            abs = std::max(abs, std::fabs((double)a[i] - (double)r[i]));
            scale = std::max(scale, std::fabs((double)r[i]));
        }
    }
    double rel() const { return scale > 0 ? abs / scale : abs; }
};

// What each op computes, on the CPU in T: the reference (T = double on a CPU context, float on a GPU) and the CPU's
// candidate (T = float).
template <typename T>
struct CpuOps {
    static void embedding(Vec<T>& out, Vec<T>& dwte, const Vec<int32_t>& tokens, const Vec<T>& wte, const Vec<T>& dout) {
        out.assign((size_t)(kN * kC), 0);
        dwte.assign((size_t)(kV * kC), 0);
        embedding_forward(out.data(), tokens.data(), wte.data(), kN, kC, 1);
        embedding_backward(dwte.data(), dout.data(), tokens.data(), kN, kC, 1);
    }
    static void rmsnorm(Vec<T>& out, Vec<T>& dx, Vec<T>& dw, const Vec<T>& x, const Vec<T>& w, const Vec<T>& dout) {
        out.assign((size_t)(kN * kC), 0);
        dx.assign((size_t)(kN * kC), 0);
        dw.assign((size_t)kC, 0);
        Vec<T> rstd((size_t)kN);
        rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), kN, kC, kEps, 1);
        rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), kN, kC, 1);
    }
    static void rope(Vec<T>& y, Vec<T>& dx, const Vec<T>& x, const Vec<T>& dy, const Vec<int32_t>& positions) {
        Vec<T> cosv((size_t)(kN * kD / 2)), sinv((size_t)(kN * kD / 2));
        rope_tables(cosv.data(), sinv.data(), positions.data(), kN, kD, kTheta, 1);
        y = x;
        dx = dy;
        rope_forward(y.data(), cosv.data(), sinv.data(), kN, kH, kD, 1);
        rope_backward(dx.data(), cosv.data(), sinv.data(), kN, kH, kD, 1);
    }
    static void attention(Vec<T>& out, Vec<T>& dq, Vec<T>& dk, Vec<T>& dv, const Vec<T>& q, const Vec<T>& k, const Vec<T>& v,
                          const Vec<T>& dout, const Vec<int32_t>& doc_start) {
        out.assign((size_t)(kN * kH * kD), 0);
        dq.assign(out.size(), 0);
        dk.assign((size_t)(kN * kKV * kD), 0);
        dv.assign(dk.size(), 0);
        Vec<T> lse((size_t)(kN * kH)), delta((size_t)(kN * kH));
        attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), doc_start.data(), kN, kH, kKV, kD, 1);
        attention_backward(dq.data(), dk.data(), dv.data(), delta.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                           lse.data(), doc_start.data(), kN, kH, kKV, kD, 1);
    }
    static void swiglu(Vec<T>& out, Vec<T>& dgate, Vec<T>& dup, const Vec<T>& gate, const Vec<T>& up, const Vec<T>& dout) {
        out.assign(gate.size(), 0);
        dgate.assign(gate.size(), 0);
        dup.assign(gate.size(), 0);
        swiglu_forward(out.data(), gate.data(), up.data(), (int64_t)gate.size(), 1);
        swiglu_backward(dgate.data(), dup.data(), dout.data(), gate.data(), up.data(), (int64_t)gate.size(), 1);
    }
    // x (N, C), W (I, C), bias (I), dout (N, I)
    static void linear(Vec<T>& out, Vec<T>& dx, Vec<T>& dw, Vec<T>& db, const Vec<T>& x, const Vec<T>& w, const Vec<T>& b,
                       const Vec<T>& dout) {
        out.assign((size_t)(kN * kI), 0);
        dx.assign((size_t)(kN * kC), 0);
        dw.assign((size_t)(kI * kC), 0);
        db.assign((size_t)kI, 0);
        matmul_forward(out.data(), x.data(), w.data(), b.data(), kN, kC, kI, 1);
        matmul_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), kN, kC, kI, 1);
    }
    static void classifier(Vec<T>& losses, Vec<T>& dx, Vec<T>& dw, const Vec<T>& x, const Vec<T>& w, const Vec<int64_t>& rows,
                           const Vec<int32_t>& targets, double scale) {
        const int64_t M = (int64_t)rows.size();
        losses.assign((size_t)M, 0);
        dx.assign((size_t)(kN * kC), 0);
        dw.assign((size_t)(kV * kC), 0);
        Vec<T> xbuf((size_t)(kChunk * kC)), dxbuf((size_t)(kChunk * kC)), logits((size_t)(kChunk * kV));
        classifier_forward_backward(losses.data(), dx.data(), dw.data(), x.data(), w.data(), rows.data(), targets.data(), xbuf.data(),
                                    dxbuf.data(), logits.data(), (T)scale, true, M, kC, kV, kChunk, 1);
    }
    static void adamw(Vec<T>& p, Vec<T>& m, Vec<T>& v, const Vec<T>& g, const eng_adamw_options& o, double scale, bool decayed) {
        const AdamWScalars k = adamw_scalars(o);
        const T decay = (T)(decayed ? 1.0 - o.lr * o.weight_decay : 1.0);
        for (size_t i = 0; i < p.size(); i++)
            adamw_element(&p[i], &m[i], &v[i], g[i], (T)scale, (T)o.beta1, (T)o.beta2, decay, (T)k.step_size, (T)k.bc2_sqrt, (T)o.eps);
    }
};

// The same ops on a GPU, through the launches the CUDA model makes (cuda_ops.hpp), host vectors in and out.
class GpuOps {
public:
    explicit GpuOps(const cuda::Device& d) : d_(d) { d_.bind(); }

    void embedding(Vec<float>& out, Vec<float>& dwte, const Vec<int32_t>& tokens, const Vec<float>& wte, const Vec<float>& dout) {
        auto t = put(tokens);
        auto w = put(wte), g = put(dout);
        auto o = zeros(kN * kC), dw = zeros(kV * kC);
        cuda::ops::embedding_forward(d_, s_, o->get(), t->get(), w->get(), kN, kC);
        cuda::ops::embedding_backward(d_, s_, dw->get(), g->get(), t->get(), kN, kC);
        out = get(*o);
        dwte = get(*dw);
    }
    void rmsnorm(Vec<float>& out, Vec<float>& dx, Vec<float>& dw, const Vec<float>& x, const Vec<float>& w, const Vec<float>& dout) {
        auto xd = put(x), wd = put(w), gd = put(dout);
        auto o = zeros(kN * kC), rstd = zeros(kN), dxd = zeros(kN * kC), dwd = zeros(kC);
        cuda::ops::rmsnorm_forward(d_, s_, o->get(), rstd->get(), xd->get(), wd->get(), kN, kC, kEps);
        cuda::ops::rmsnorm_backward(d_, s_, dxd->get(), dwd->get(), gd->get(), xd->get(), wd->get(), rstd->get(), kN, kC);
        out = get(*o);
        dx = get(*dxd);
        dw = get(*dwd);
    }
    void rope(Vec<float>& y, Vec<float>& dx, const Vec<float>& x, const Vec<float>& dy, const Vec<int32_t>& positions) {
        Vec<float> cosv((size_t)(kN * kD / 2)), sinv((size_t)(kN * kD / 2));
        rope_tables(cosv.data(), sinv.data(), positions.data(), kN, kD, kTheta, 1);
        auto c = put(cosv), s = put(sinv), yd = put(x), gd = put(dy);
        cuda::ops::rope(d_, s_, yd->get(), c->get(), s->get(), kN, kH, kD, false);
        cuda::ops::rope(d_, s_, gd->get(), c->get(), s->get(), kN, kH, kD, true);
        y = get(*yd);
        dx = get(*gd);
    }
    void attention(Vec<float>& out, Vec<float>& dq, Vec<float>& dk, Vec<float>& dv, const Vec<float>& q, const Vec<float>& k,
                   const Vec<float>& v, const Vec<float>& dout, const Vec<int32_t>& doc_start, const Vec<int32_t>& doc_end) {
        auto qd = put(q), kd = put(k), vd = put(v), gd = put(dout);
        auto ds = put(doc_start), de = put(doc_end);
        auto o = zeros(kN * kH * kD), lse = zeros(kN * kH), delta = zeros(kN * kH);
        auto dqd = zeros(kN * kH * kD), dkd = zeros(kN * kKV * kD), dvd = zeros(kN * kKV * kD);
        const float scale = 1.0f / std::sqrt((float)kD);
        cuda::ops::attention_forward(d_, s_, o->get(), lse->get(), qd->get(), kd->get(), vd->get(), ds->get(), kN, kH, kKV, kD, scale);
        cuda::ops::attention_backward(d_, s_, dqd->get(), dkd->get(), dvd->get(), delta->get(), gd->get(), qd->get(), kd->get(), vd->get(),
                                      o->get(), lse->get(), ds->get(), de->get(), kN, kH, kKV, kD, scale);
        out = get(*o);
        dq = get(*dqd);
        dk = get(*dkd);
        dv = get(*dvd);
    }
    void swiglu(Vec<float>& out, Vec<float>& dgate, Vec<float>& dup, const Vec<float>& gate, const Vec<float>& up, const Vec<float>& dout) {
        const int64_t n = (int64_t)gate.size();
        auto gd = put(gate), ud = put(up), od = put(dout);
        auto o = zeros(n), dg = zeros(n), du = zeros(n);
        cuda::ops::swiglu_forward(d_, s_, o->get(), gd->get(), ud->get(), n);
        cuda::ops::swiglu_backward(d_, s_, dg->get(), du->get(), od->get(), gd->get(), ud->get(), n);
        out = get(*o);
        dgate = get(*dg);
        dup = get(*du);
    }
    void linear(Vec<float>& out, Vec<float>& dx, Vec<float>& dw, Vec<float>& db, const Vec<float>& x, const Vec<float>& w,
                const Vec<float>& b, const Vec<float>& dout) {
        auto xd = put(x), wd = put(w), bd = put(b), gd = put(dout);
        auto wb = halves(kI * kC), xb = halves(kN * kC), gb = halves(kN * kI);
        auto o = zeros(kN * kI), dxd = zeros(kN * kC), dwd = zeros(kI * kC), dbd = zeros(kI);
        cuda::ops::to_bf16(d_, s_, wb->get(), wd->get(), kI * kC);
        cuda::ops::linear_forward(d_, s_, o->get(), xd->get(), wb->get(), bd->get(), kN, kC, kI, xb->get());
        cuda::ops::linear_backward(d_, s_, dxd->get(), dwd->get(), dbd->get(), gd->get(), xd->get(), wb->get(), kN, kC, kI, xb->get(), gb->get());
        out = get(*o);
        dx = get(*dxd);
        dw = get(*dwd);
        db = get(*dbd);
    }
    void classifier(Vec<float>& losses, Vec<float>& dx, Vec<float>& dw, const Vec<float>& x, const Vec<float>& w, const Vec<int64_t>& rows,
                    const Vec<int32_t>& targets, double scale) {
        const int64_t M = (int64_t)rows.size();
        Vec<int32_t> rows32(rows.begin(), rows.end());
        auto xd = put(x), wd = put(w);
        auto rd = put(rows32), td = put(targets);
        auto wb = halves(kV * kC), xb = halves(kChunk * kC), gb = halves(kChunk * kV);
        auto ld = zeros(M), dxd = zeros(kN * kC), dwd = zeros(kV * kC), logits = zeros(kChunk * kV), dxc = zeros(kChunk * kC);
        cuda::ops::to_bf16(d_, s_, wb->get(), wd->get(), kV * kC);
        for (int64_t c0 = 0; c0 < M; c0 += kChunk)
            cuda::ops::classifier_chunk(d_, s_, ld->get() + c0, dxd->get(), dwd->get(), xd->get(), wb->get(), rd->get() + c0, td->get() + c0,
                                        std::min(kChunk, M - c0), kC, kV, (float)scale, true, logits->get(), xb->get(), gb->get(), dxc->get());
        losses = get(*ld);
        dx = get(*dxd);
        dw = get(*dwd);
    }
    void adamw(Vec<float>& p, Vec<float>& m, Vec<float>& v, const Vec<float>& g, const eng_adamw_options& o, double scale, bool decayed) {
        const int64_t n = (int64_t)p.size();
        auto pd = put(p), md = put(m), vd = put(v), gd = put(g);
        const AdamWScalars k = adamw_scalars(o);
        const float decay = (float)(decayed ? 1.0 - o.lr * o.weight_decay : 1.0);
        cuda::ops::adamw(d_, s_, pd->get(), gd->get(), md->get(), vd->get(), 0, n, 0, (float)scale, (float)o.beta1, (float)o.beta2, decay,
                         (float)k.step_size, (float)k.bc2_sqrt, (float)o.eps);
        p = get(*pd);
        m = get(*md);
        v = get(*vd);
    }

private:
    template <typename T>
    std::unique_ptr<cuda::DeviceArray<T>> put(const Vec<T>& host) {
        auto a = std::make_unique<cuda::DeviceArray<T>>(d_, (int64_t)host.size());
        cuda::upload(d_, a->get(), host.data(), host.size() * sizeof(T), s_);
        cuda::synchronize(d_, s_);
        return a;
    }
    std::unique_ptr<cuda::DeviceArray<float>> zeros(int64_t n) {
        auto a = std::make_unique<cuda::DeviceArray<float>>(d_, n);
        cuda::zero_async(d_, a->get(), (size_t)n * sizeof(float), s_);
        return a;
    }
    std::unique_ptr<cuda::DeviceArray<uint16_t>> halves(int64_t n) { return std::make_unique<cuda::DeviceArray<uint16_t>>(d_, n); }
    Vec<float> get(const cuda::DeviceArray<float>& a) {
        Vec<float> host((size_t)a.size());
        cuda::download(d_, host.data(), a.get(), host.size() * sizeof(float), s_);
        cuda::synchronize(d_, s_);
        return host;
    }

    const cuda::Device& d_;
    cuda::CUstream s_ = nullptr;
};

// The CPU candidate: the fp32 ops themselves.
struct CpuFloatOps : CpuOps<float> {};

// Packed-row bookkeeping of kDocLengths.
struct Packing {
    Vec<int32_t> positions, doc_start, doc_end;
    Packing() {
        int32_t n = 0;
        for (int32_t len : kDocLengths) {
            for (int32_t t = 0; t < len; t++) {
                positions.push_back(t);
                doc_start.push_back(n);
                doc_end.push_back(n + len);
            }
            n += len;
        }
    }
};

// The CPU's attention ignores doc_end (it walks to the document's end through doc_start); the GPU reads both.
void attention_candidate(CpuFloatOps& cand, Vec<float>& o, Vec<float>& dq, Vec<float>& dk, Vec<float>& dv, const Vec<float>& q,
                         const Vec<float>& k, const Vec<float>& v, const Vec<float>& dout, const Packing& pack) {
    cand.attention(o, dq, dk, dv, q, k, v, dout, pack.doc_start);
}

void attention_candidate(GpuOps& cand, Vec<float>& o, Vec<float>& dq, Vec<float>& dk, Vec<float>& dv, const Vec<float>& q,
                         const Vec<float>& k, const Vec<float>& v, const Vec<float>& dout, const Packing& pack) {
    cand.attention(o, dq, dk, dv, q, k, v, dout, pack.doc_start, pack.doc_end);
}

// Runs check `index` with candidate ops Cand (CpuFloatOps or GpuOps) against the reference in R.
template <typename R, typename Cand>
void run_check(eng_op_check* out, int32_t index, uint64_t seed, Cand& cand, double tolerance) {
    Inputs in(seed);
    Error2 fwd, bwd;
    const Packing pack;
    switch (index) {
    case 0: {  // embedding: a small vocabulary so that tokens repeat
        const Vec<int32_t> tokens = in.ids(kN, 11);
        const Vec<double> wte = in.uniform(kV * kC), dout = in.uniform(kN * kC);
        Vec<R> o, dw;
        Vec<float> co, cdw;
        CpuOps<R>::embedding(o, dw, tokens, as<R>(wte), as<R>(dout));
        cand.embedding(co, cdw, tokens, as<float>(wte), as<float>(dout));
        fwd.add(co, o);
        bwd.add(cdw, dw);
        break;
    }
    case 1: {
        const Vec<double> x = in.uniform(kN * kC, -3, 3), w = in.uniform(kC, 0.5, 1.5), dout = in.uniform(kN * kC);
        Vec<R> o, dx, dw;
        Vec<float> co, cdx, cdw;
        CpuOps<R>::rmsnorm(o, dx, dw, as<R>(x), as<R>(w), as<R>(dout));
        cand.rmsnorm(co, cdx, cdw, as<float>(x), as<float>(w), as<float>(dout));
        fwd.add(co, o);
        bwd.add(cdx, dx);
        bwd.add(cdw, dw);
        break;
    }
    case 2: {
        const Vec<double> x = in.uniform(kN * kH * kD), dy = in.uniform(kN * kH * kD);
        Vec<R> y, dx;
        Vec<float> cy, cdx;
        CpuOps<R>::rope(y, dx, as<R>(x), as<R>(dy), pack.positions);
        cand.rope(cy, cdx, as<float>(x), as<float>(dy), pack.positions);
        fwd.add(cy, y);
        bwd.add(cdx, dx);
        break;
    }
    case 3: {
        const Vec<double> q = in.uniform(kN * kH * kD, -2, 2), k = in.uniform(kN * kKV * kD, -2, 2), v = in.uniform(kN * kKV * kD),
                          dout = in.uniform(kN * kH * kD);
        Vec<R> o, dq, dk, dv;
        Vec<float> co, cdq, cdk, cdv;
        CpuOps<R>::attention(o, dq, dk, dv, as<R>(q), as<R>(k), as<R>(v), as<R>(dout), pack.doc_start);
        attention_candidate(cand, co, cdq, cdk, cdv, as<float>(q), as<float>(k), as<float>(v), as<float>(dout), pack);
        fwd.add(co, o);
        bwd.add(cdq, dq);
        bwd.add(cdk, dk);
        bwd.add(cdv, dv);
        break;
    }
    case 4: {
        const Vec<double> gate = in.uniform(kN * kI, -6, 6), up = in.uniform(kN * kI), dout = in.uniform(kN * kI);
        Vec<R> o, dg, du;
        Vec<float> co, cdg, cdu;
        CpuOps<R>::swiglu(o, dg, du, as<R>(gate), as<R>(up), as<R>(dout));
        cand.swiglu(co, cdg, cdu, as<float>(gate), as<float>(up), as<float>(dout));
        fwd.add(co, o);
        bwd.add(cdg, dg);
        bwd.add(cdu, du);
        break;
    }
    case 5: {
        const Vec<double> x = in.uniform(kN * kC), w = in.uniform(kI * kC, -0.2, 0.2), b = in.uniform(kI), dout = in.uniform(kN * kI);
        Vec<R> o, dx, dw, db;
        Vec<float> co, cdx, cdw, cdb;
        CpuOps<R>::linear(o, dx, dw, db, as<R>(x), as<R>(w), as<R>(b), as<R>(dout));
        cand.linear(co, cdx, cdw, cdb, as<float>(x), as<float>(w), as<float>(b), as<float>(dout));
        fwd.add(co, o);
        bwd.add(cdx, dx);
        bwd.add(cdw, dw);
        bwd.add(cdb, db);
        break;
    }
    case 6: {  // every third token unscored, so chunks gather scattered rows
        Vec<int64_t> rows;
        for (int64_t n = 0; n < kN; n++)
            if (n % 3 != 1) rows.push_back(n);
        const Vec<int32_t> targets = in.ids((int64_t)rows.size(), (int32_t)kV);
        const Vec<double> x = in.uniform(kN * kC, -2, 2), w = in.uniform(kV * kC, -0.5, 0.5);
        const double scale = 1.0 / (double)rows.size();
        Vec<R> l, dx, dw;
        Vec<float> cl, cdx, cdw;
        CpuOps<R>::classifier(l, dx, dw, as<R>(x), as<R>(w), rows, targets, scale);
        cand.classifier(cl, cdx, cdw, as<float>(x), as<float>(w), rows, targets, scale);
        fwd.add(cl, l);
        bwd.add(cdx, dx);
        bwd.add(cdw, dw);
        break;
    }
    case 7: {  // forward: the parameters after two steps; backward: the moments
        const eng_adamw_options o1{1e-2, 0.9, 0.999, 1e-8, 0.1, 1.0, 1}, o2{1e-2, 0.9, 0.999, 1e-8, 0.1, 1.0, 2};
        const Vec<double> p0 = in.uniform(kN * kC), g1 = in.uniform(kN * kC, -1e-2, 1e-2), g2 = in.uniform(kN * kC, -1e-2, 1e-2);
        Vec<R> p = as<R>(p0), m((size_t)(kN * kC), 0), v((size_t)(kN * kC), 0);
        Vec<float> cp = as<float>(p0), cm((size_t)(kN * kC), 0), cv((size_t)(kN * kC), 0);
        CpuOps<R>::adamw(p, m, v, as<R>(g1), o1, 0.5, true);
        CpuOps<R>::adamw(p, m, v, as<R>(g2), o2, 1.0, true);
        cand.adamw(cp, cm, cv, as<float>(g1), o1, 0.5, true);
        cand.adamw(cp, cm, cv, as<float>(g2), o2, 1.0, true);
        fwd.add(cp, p);
        bwd.add(cm, m);
        bwd.add(cv, v);
        break;
    }
    default:
        throw Error(ENG_ERROR_INVALID_ARGUMENT, "op index " + std::to_string(index) + " is outside [0, " + std::to_string(kOpCount) + ")");
    }
    std::memset(out, 0, sizeof *out);
    std::strncpy(out->op, kOps[index], sizeof out->op - 1);
    out->forward_max_abs_error = fwd.abs;
    out->forward_max_rel_error = fwd.rel();
    out->backward_max_abs_error = bwd.abs;
    out->backward_max_rel_error = bwd.rel();
    out->tolerance = tolerance;
    out->passed = fwd.rel() <= tolerance && bwd.rel() <= tolerance ? 1 : 0;
}

// The bf16 tolerance of each op on a GPU, relative to the tensor's largest magnitude: ops whose GEMM inputs are
// rounded to bf16 (8 significant bits) get 2^-5; the fp32 ops (hardware exp/log) 2^-10.
double gpu_tolerance(int32_t index) { return index == 5 || index == 6 ? 1.0 / 32 : 1.0 / 1024; }

// fp32 against float64 on the CPU: a few ulps of float32 accumulated over at most a hundred terms.
constexpr double kCpuTolerance = 1e-5;

}  // namespace

int32_t op_check_count() { return kOpCount; }

void check_op(eng_op_check* out, int32_t index, uint64_t seed, const cuda::Device* device) {
    if (index < 0 || index >= kOpCount)
        throw Error(ENG_ERROR_INVALID_ARGUMENT, "op index " + std::to_string(index) + " is outside [0, " + std::to_string(kOpCount) + ")");
    if (device) {
        GpuOps gpu(*device);
        run_check<float>(out, index, seed, gpu, gpu_tolerance(index));
    } else {
        CpuFloatOps cpu;
        run_check<double>(out, index, seed, cpu, kCpuTolerance);
    }
}

}  // namespace eng
