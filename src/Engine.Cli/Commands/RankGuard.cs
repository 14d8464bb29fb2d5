using Engine.Training.Distributed;
using Engine.Training.Sft;

namespace Engine.Cli.Commands;

/// <summary>The error policy of a verb that may run as one rank of an mpirun job. A problem all ranks found alike
/// (<see cref="JobWideException"/>) is said once, by rank 0, and every rank exits with it. Any other failure is
/// this rank's own: it says so with its rank and host, then aborts the whole job, so that no other rank waits in
/// a collective for it (mpirun then ends every rank and exits non-zero). One process: the usual policy.</summary>
internal static class RankGuard
{
    public static int Run(TrainingWorld world, Func<int> body)
    {
        if (!world.IsDistributed) return body();
        try
        {
            return body();
        }
        catch (JobWideException e)
        {
            if (world.Rank == 0) Console.Error.WriteLine($"engine: error: {e.Message}");
            return EngineCli.ExitInputError;
        }
        catch (Exception e) when (EngineCli.IsReported(e))
        {
            int code = EngineCli.Report(e, world.Describe());
            world.Abort(code);
            return code;
        }
    }
}
