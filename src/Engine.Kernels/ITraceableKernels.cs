using Engine.Core.Diagnostics;

namespace Engine.Kernels;

/// <summary>A backend that can break its calls into finer trace spans (upload, kernel, download).</summary>
public interface ITraceableKernels
{
    /// <summary>Where spans go; null when no trace is being taken.</summary>
    ProfileTrace? Trace { get; set; }
}
