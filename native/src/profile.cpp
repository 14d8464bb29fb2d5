// The host clock of op profiling (profile.hpp).
#include <chrono>

#include "profile.hpp"

namespace eng {
namespace {

class HostClock final : public StampClock {
public:
    void reset() override { stamps_.clear(); }

    int64_t stamp() override {
        stamps_.push_back(std::chrono::steady_clock::now());
        return (int64_t)stamps_.size() - 1;
    }

    std::vector<double> microseconds() override {
        std::vector<double> us(stamps_.size());
        for (size_t i = 0; i < stamps_.size(); i++)
            us[i] = std::chrono::duration<double, std::micro>(stamps_[i] - stamps_.front()).count();
        return us;
    }

private:
    std::vector<std::chrono::steady_clock::time_point> stamps_;
};

}  // namespace

std::unique_ptr<StampClock> make_host_clock() { return std::make_unique<HostClock>(); }

}  // namespace eng
