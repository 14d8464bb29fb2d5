using BenchmarkDotNet.Running;

// BenchmarkDotNet's command line: `--filter '*'` runs everything, `--job short` for a quick pass, `--list flat`.
BenchmarkSwitcher.FromAssembly(typeof(Engine.Benchmarks.ArceeFusionKernelBenchmarks).Assembly).Run(args);
