// The engine embedded in a generic host: DI registers the merge and training services, logging goes to the
// console, Ctrl+C cancels the running job (the host's console lifetime), and progress arrives through IProgress<T>.
// Run with --Sample:WorkDir=DIR to keep the generated inputs and outputs (default: a fresh temporary folder).
using Engine.Core;
using Engine.Merge;
using Engine.Samples.Hosting;
using Engine.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddEngineMerge().AddEngineTraining();
builder.Services.Configure<EngineOptions>(o => o.Device = "cpu");
builder.Services.Configure<SampleOptions>(builder.Configuration.GetSection(SampleOptions.Section));
builder.Services.AddHostedService<MergeThenSftJob>();

using var host = builder.Build();
await host.RunAsync();
return Environment.ExitCode;
