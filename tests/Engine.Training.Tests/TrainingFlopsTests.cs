namespace Engine.Training.Tests;

/// <summary>Training FLOPs and MFU against counts done by hand.</summary>
public sealed class TrainingFlopsTests
{
    // hidden 4, 2 heads of 2, 1 KV head, intermediate 6, 2 layers, vocabulary 10.
    private static Qwen2Config Tiny(bool tied) => new(10, 4, 6, 2, 2, 1, tied, 1e-6, 10000);

    [Fact]
    public void MatmulWeightsAreTheProjectionsTheMlpAndTheClassifierOnce()
    {
        // Per layer: q 4x4 = 16, k and v 2 x (2x4) = 16, o 4x4 = 16, MLP 3 x 6x4 = 72: 120; two layers 240; classifier 10x4 = 40.
        Assert.Equal(280, TrainingFlops.MatmulParameters(Tiny(tied: true)));
        // An untied model's input embedding is a lookup: same matrix work, 40 more parameters.
        Assert.Equal(280, TrainingFlops.MatmulParameters(Tiny(tied: false)));
        Assert.Equal(40, Tiny(false).ParameterCount - Tiny(true).ParameterCount);
    }

    [Fact]
    public void AStepIsSixFlopsPerWeightAndTokenPlusTwelveHeadDimsPerHeadAndCausalPair()
    {
        // Documents of 3 and 5 tokens: 8 tokens; causal pairs 3*4/2 + 5*6/2 = 21.
        Assert.Equal(21, TrainingFlops.CausalPairs([3, 5]));
        double expected = 6.0 * 280 * 8 + 12.0 * 2 /* layers */ * 2 /* heads */ * 2 /* head_dim */ * 21;
        Assert.Equal(15456, expected);
        Assert.Equal(expected, TrainingFlops.Step(Tiny(true), [3, 5]));
        Assert.Equal(6.0 * 280 * 8 + 12.0 * 2 * 2 * 2 * (2 * 10), TrainingFlops.Step(Tiny(true), documents: 2, documentLength: 4));
        Assert.Equal(0, TrainingFlops.Step(Tiny(true), []));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingFlops.CausalPairs([4, -1]));
    }

    [Fact]
    public void Qwen25HalfBillionAtFourTimes2048Tokens()
    {
        // Qwen2.5-0.5B: 494,032,768 parameters, of which 24 x (1,152 biases + 1,792 norm weights) + 896 final norm
        // = 71,552 do no matrix product.
        var c = new Qwen2Config(151936, 896, 4864, 24, 14, 2, tieWordEmbeddings: true, 1e-6, 1e6);
        Assert.Equal(494_032_768, c.ParameterCount);
        Assert.Equal(494_032_768 - 71_552, TrainingFlops.MatmulParameters(c));
        double perDocument = 6.0 * 493_961_216 * 2048 + 12.0 * 24 * 14 * 64 * (2048L * 2049 / 2);
        Assert.Equal(6_611_225_542_656, perDocument);
        Assert.Equal(4 * perDocument, TrainingFlops.Step(c, 4, 2048));
    }

    [Fact]
    public void UtilisationIsAchievedFlopsOverThePeakOfTheGpus()
    {
        Assert.Equal(0.5, TrainingFlops.Utilisation(989.4e12, 2.0, GpuPeakFlops.H200Sxm), 12);
        Assert.Equal(0.25, TrainingFlops.Utilisation(989.4e12, 0.5, GpuPeakFlops.H100Sxm, gpus: 8), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingFlops.Utilisation(1, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TrainingFlops.Utilisation(1, 1, 0));
    }

    [Theory]
    [InlineData("NVIDIA H200", "H200 SXM", 989.4e12)]
    [InlineData("NVIDIA H100 80GB HBM3", "H100 SXM", 989.4e12)]
    [InlineData("NVIDIA H100 PCIe", "H100 PCIe", 756.5e12)]
    [InlineData("NVIDIA H800", "H800 SXM", 989.4e12)]
    [InlineData("NVIDIA A100-SXM4-80GB", "A100", 312e12)]
    [InlineData("NVIDIA A100 80GB PCIe", "A100", 312e12)]
    [InlineData("NVIDIA A800-SXM4-80GB", "A800", 312e12)]
    public void TheDriversDeviceNameFindsItsPeak(string deviceName, string model, double flops) =>
        Assert.Equal(new GpuPeak(model, flops), GpuPeakFlops.ForDeviceName(deviceName));

    [Theory]
    [InlineData("NVIDIA H100 NVL")]
    [InlineData("NVIDIA H200 NVL")]
    [InlineData("NVIDIA GH200 480GB")]
    [InlineData("NVIDIA H800 PCIe")]
    [InlineData("NVIDIA GeForce RTX 4090")]
    public void AVariantOutsideTheTableHasNoPeak(string deviceName) => Assert.Null(GpuPeakFlops.ForDeviceName(deviceName));
}
