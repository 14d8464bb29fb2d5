using System.Runtime.ExceptionServices;
using Engine.Kernels;

namespace Engine.Merge.Execution;

/// <summary>The executor's scheduler: one worker per device, each claiming the next unit of work (a tensor, or in a
/// batch a tensor name of every job) until none is left, so work spreads over GPUs and a slow device takes fewer
/// units. A device computes one unit at a time, which bounds its memory by the largest unit.</summary>
internal static class DeviceWorkers
{
    /// <summary>Runs <paramref name="work"/>(device, index, stride, cancellation) on every device: on the calling thread
    /// for one device (index -1: not reported per tensor), else one long-running task each. The first failure stops
    /// the other devices and is rethrown as itself, not wrapped.</summary>
    public static void Run(IReadOnlyList<IMergeKernels> devices, Action<IMergeKernels, int, int, CancellationToken> work, CancellationToken cancellation)
    {
        if (devices.Count == 1)
        {
            work(devices[0], -1, 1, cancellation);
            return;
        }
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var workers = devices.Select((kernels, d) => Task.Factory.StartNew(() =>
        {
            try
            {
                work(kernels, d, devices.Count, failed.Token);
            }
            catch
            {
                failed.Cancel();
                throw;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        try
        {
            Task.WaitAll(workers);
        }
        catch (AggregateException e)
        {
            var first = e.Flatten().InnerExceptions;
            cancellation.ThrowIfCancellationRequested();
            ExceptionDispatchInfo.Capture(first.FirstOrDefault(x => x is not OperationCanceledException) ?? first[0]).Throw();
        }
    }
}
