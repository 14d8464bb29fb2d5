// Op timing of one model (eng_model_set_profiling, eng_model_profile_read): while on, each op the model runs is
// a record of its name, decoder layer, pass and two stamps, its start and its end. The stamps come from a
// StampClock: on the CPU the host's steady clock (ops run synchronously there, so the distance is the op's time);
// on a GPU a CUDA event recorded on the model's stream before and after each kernel launch or GEMM (so the distance
// is the GPU time of that launch, and recording waits for nothing: the events are read when the records are).
// Off, a scope costs one branch and records nothing, so a normal run is unchanged.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "engine_native.h"

namespace eng {

// Where a timestamp comes from. stamp() takes the next one and returns its index; microseconds() gives every
// stamp taken since reset() as microseconds after the first (waiting for a device's stamps to happen).
class StampClock {
public:
    virtual ~StampClock() = default;
    virtual void reset() = 0;
    virtual int64_t stamp() = 0;
    virtual std::vector<double> microseconds() = 0;
};

// The host's steady clock.
std::unique_ptr<StampClock> make_host_clock();

class OpProfiler {
public:
    void set_clock(std::unique_ptr<StampClock> clock) { clock_ = std::move(clock); }

    bool on() const { return on_; }

    // Turning it on (or off) drops the records so far.
    void enable(bool on) {
        on_ = on && clock_ != nullptr;
        records_.clear();
        if (clock_) clock_->reset();
        layer_ = -1;
        pass_ = ENG_PROFILE_FORWARD;
    }

    // The layer and pass of the ops that follow (layer -1: outside the decoder layers).
    void at(int64_t layer, int32_t pass) {
        layer_ = (int32_t)layer;
        pass_ = pass;
    }

    int64_t begin() { return clock_->stamp(); }
    void end(const char* op, int64_t begin_stamp) { records_.push_back({op, layer_, pass_, begin_stamp, clock_->stamp()}); }

    // Copies up to capacity records into out (in the order the ops ran) and returns how many there are.
    int64_t read(eng_profile_record* out, int64_t capacity) {
        const int64_t n = (int64_t)records_.size();
        if (out == nullptr || capacity <= 0 || n == 0) return n;
        const std::vector<double> us = clock_->microseconds();
        for (int64_t i = 0; i < std::min(n, capacity); i++) {
            const Record& r = records_[(size_t)i];
            eng_profile_record& o = out[i];
            std::memset(&o, 0, sizeof o);
            std::strncpy(o.op, r.op, sizeof o.op - 1);
            o.layer = r.layer;
            o.pass = r.pass;
            o.start_microseconds = us[(size_t)r.begin];
            o.duration_microseconds = us[(size_t)r.end] - us[(size_t)r.begin];
        }
        return n;
    }

private:
    struct Record {
        const char* op;  // a string literal (op and kernel names)
        int32_t layer, pass;
        int64_t begin, end;
    };
    std::unique_ptr<StampClock> clock_;
    std::vector<Record> records_;
    bool on_ = false;
    int32_t layer_ = -1, pass_ = ENG_PROFILE_FORWARD;
};

// Times the enclosing scope as op `op` when p is on (p may be null: nothing).
class OpScope {
public:
    OpScope(OpProfiler* p, const char* op) : p_(p && p->on() ? p : nullptr), op_(op), begin_(p_ ? p_->begin() : 0) {}
    ~OpScope() {
        if (p_) p_->end(op_, begin_);
    }
    OpScope(const OpScope&) = delete;
    OpScope& operator=(const OpScope&) = delete;

private:
    OpProfiler* p_;
    const char* op_;
    int64_t begin_;
};

}  // namespace eng
