using Xunit;

namespace Engine.Testing;

/// <summary>A fact that needs mpirun (Open MPI; .ci/run installs it and fails when it cannot).</summary>
public sealed class RequiresMpiFactAttribute : FactAttribute
{
    public RequiresMpiFactAttribute()
    {
        if (!MpiProcess.Available) Skip = "mpirun is not installed (apt-get install libopenmpi-dev openmpi-bin)";
    }
}
