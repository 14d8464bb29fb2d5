using Engine.Fuzz;

// Engine.Fuzz TARGET          one AFL++ fuzzing loop over TARGET (docs/fuzzing.md has the instrumentation step)
// Engine.Fuzz TARGET FILE...  runs each file once and prints what escaped, to triage a finding
if (args.Length < 1 || !FuzzTargets.Names.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: Engine.Fuzz TARGET [FILE...]   (TARGET: {string.Join(", ", FuzzTargets.Names)})");
    return 2;
}
using var targets = new FuzzTargets();
if (args.Length > 1)
{
    int failed = 0;
    foreach (var file in args.Skip(1))
    {
        try
        {
            targets.Run(args[0], File.ReadAllBytes(file));
        }
        catch (Exception e)
        {
            failed++;
            Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            Console.WriteLine(e.StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("Engine.")) ?? "");
        }
    }
    return failed == 0 ? 0 : 1;
}
SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    targets.Run(args[0], copy.ToArray());
});
return 0;
