namespace Engine.Training;

/// <summary>A GPU model's dense bf16 tensor-core peak, the denominator of MFU.</summary>
public sealed record GpuPeak(string Model, double Bf16DenseFlops);

/// <summary>Dense (no 2:4 sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, in FLOP/s, and the lookup by
/// the name the CUDA driver reports (<c>cuDeviceGetName</c>: "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe",
/// "NVIDIA H200", "NVIDIA A100-SXM4-80GB", ...). Datasheets quote the sparse figure; dense is half of it. A GPU
/// whose variant is not listed gets no peak rather than a guess.</summary>
public static class GpuPeakFlops
{
    /// <summary>H100 SXM5 (and the same die as H800 SXM5): 1,979 TFLOP/s sparse.</summary>
    public const double H100Sxm = 989.4e12;

    /// <summary>H100 PCIe: 1,513 TFLOP/s sparse.</summary>
    public const double H100Pcie = 756.5e12;

    /// <summary>H200 SXM: the H100 SXM's tensor cores and clocks with more, faster memory.</summary>
    public const double H200Sxm = 989.4e12;

    /// <summary>A100 (SXM4 and PCIe, 40 and 80 GB; A800 the same): 624 TFLOP/s sparse.</summary>
    public const double A100 = 312e12;

    /// <summary>The peak for a driver device name, or null when the model or variant is not in the table (NVL and
    /// GH200 parts, for instance, run at other clocks).</summary>
    public static GpuPeak? ForDeviceName(string deviceName)
    {
        string name = deviceName.ToUpperInvariant();
        bool Has(string part) => name.Contains(part, StringComparison.Ordinal);
        if (Has("GH200") || Has("NVL")) return null;
        if (Has("H200")) return new GpuPeak("H200 SXM", H200Sxm);
        if (Has("H100") || Has("H800"))
        {
            if (Has("PCIE")) return Has("H100") ? new GpuPeak("H100 PCIe", H100Pcie) : null;
            return new GpuPeak(Has("H100") ? "H100 SXM" : "H800 SXM", H100Sxm);
        }
        if (Has("A100") || Has("A800")) return new GpuPeak(Has("A100") ? "A100" : "A800", A100);
        return null;
    }
}
