using Bastion.Config;

namespace Bastion.Tests.Config;

/// <summary>
/// Secrets must exist and be private (OpenSSH StrictModes style); other referenced files must exist.
/// Each test writes a config with relative paths into its own temp directory and loads it from there.
/// </summary>
public sealed class ConfigFileCheckTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode WorldReadable = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly string _dir = Directory.CreateTempSubdirectory("bastion-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config => Path.Combine(_dir, "bastion.yaml");

    private string Write(string name, UnixFileMode mode, string content = "not a real secret\n")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private ConfigLoadResult LoadTunnel(string identity, string hostKey = "{fingerprints: [SHA256:f+MBIWY78I2QFpPR3dFB27DxF/+3SHAxu+2DvHOv1M8]}",
        ConfigLoadOptions? options = null)
    {
        File.WriteAllText(Config, $$"""
            tunnels:
              - name: t
                kind: local
                server: {host: h, user: u, identity: {{identity}}, hostKey: {{hostKey}}}
                bind: 127.0.0.1:1
                target: 127.0.0.1:2
            """);
        return ConfigLoader.LoadFile(Config, options);
    }

    [Fact]
    public void Private_identity_file_is_accepted()
    {
        Write("id", Private);

        var result = LoadTunnel("id");

        Assert.True(result.Ok, string.Join("\n", result.Errors));
        Assert.Equal(Path.Combine(_dir, "id"), result.Config!.Tunnels[0].Server.Identity);
    }

    [Fact]
    public void Identity_readable_by_others_is_refused_with_the_chmod_to_run()
    {
        var id = Write("id", WorldReadable);

        var error = Assert.Single(LoadTunnel("id").Errors);

        Assert.Equal($"{Config}:4:42: tunnels[0].server.identity: {id} is accessible by group or others (mode 0644); a secret must be private — run chmod 600 {id}", error.ToString());
    }

    [Fact]
    public void Missing_identity_is_refused()
    {
        var error = Assert.Single(LoadTunnel("id").Errors);

        var id = Path.Combine(_dir, "id");
        Assert.Equal($"{Config}:4:42: tunnels[0].server.identity: {id} does not exist — fix the path, or create the key with ssh-keygen -t ed25519 -N '' -f {id}", error.ToString());
    }

    [Fact]
    public void Directory_as_identity_is_refused()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "keys"));

        var error = Assert.Single(LoadTunnel("keys").Errors);

        Assert.Equal($"{Config}:4:42: tunnels[0].server.identity: {Path.Combine(_dir, "keys")} is a directory, not a file — point it at the file itself", error.ToString());
    }

    [Fact]
    public void Empty_or_special_identity_file_is_refused()
    {
        Write("id", Private, content: "");

        Assert.Contains("is empty or not a regular file", Assert.Single(LoadTunnel("id").Errors).Problem, StringComparison.Ordinal);
        Assert.Contains("/dev/null is empty or not a regular file", Assert.Single(LoadTunnel("/dev/null").Errors).Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Known_hosts_must_exist_but_need_not_be_private()
    {
        Write("id", Private);

        var missing = Assert.Single(LoadTunnel("id", "{knownHosts: known_hosts}").Errors);
        Assert.Equal($"{Config}:4:68: tunnels[0].server.hostKey.knownHosts: {Path.Combine(_dir, "known_hosts")} does not exist — fix the path, or create it with ssh-keyscan -p 22 h >> {Path.Combine(_dir, "known_hosts")} and compare the fingerprints with the server's", missing.ToString());

        Write("known_hosts", WorldReadable, "h ssh-ed25519 AAAA\n");
        Assert.True(LoadTunnel("id", "{knownHosts: known_hosts}").Ok);
    }

    [Fact]
    public void Tls_key_must_be_private_and_certificate_and_ca_must_exist()
    {
        Write("c.crt", WorldReadable);
        Write("c.key", WorldReadable);
        File.WriteAllText(Config, """
            pki: {}
            tls:
              - name: vnc
                mode: listen
                address: 127.0.0.1:0
                backend: unix:rfb.sock
                certificate: c.crt
                key: c.key
                ca: ca.crt
            """);

        var errors = ConfigLoader.LoadFile(Config).Errors.Select(e => e.ToString()).ToList();

        Assert.Equal(
        [
            $"{Config}:8:10: tls[0].key: {_dir}/c.key is accessible by group or others (mode 0644); a secret must be private — run chmod 600 {_dir}/c.key",
            $"{Config}:9:9: tls[0].ca: {_dir}/ca.crt does not exist — fix the path (the PEM CA certificate that signs the peers), or remove ca to use the pki: CA",
        ], errors);
    }

    [Fact]
    public void Vnc_password_file_must_be_private()
    {
        Write("passwd", Private | UnixFileMode.GroupRead);
        File.WriteAllText(Config, "vnc:\n  passwordFile: passwd\n");

        var error = Assert.Single(ConfigLoader.LoadFile(Config).Errors);

        Assert.Equal($"{Config}:2:17: vnc.passwordFile: {_dir}/passwd is accessible by group or others (mode 0640); a secret must be private — run chmod 600 {_dir}/passwd", error.ToString());
    }

    [Fact]
    public void Symlinked_secret_is_judged_by_its_target()
    {
        Write("id", Private);
        File.CreateSymbolicLink(Path.Combine(_dir, "id-link"), Path.Combine(_dir, "id"));
        File.CreateSymbolicLink(Path.Combine(_dir, "null-link"), "/dev/null");

        Assert.True(LoadTunnel("id-link").Ok);
        Assert.Contains("is empty or not a regular file", Assert.Single(LoadTunnel("null-link").Errors).Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void File_checks_can_be_switched_off()
    {
        var result = LoadTunnel("missing-id", "{knownHosts: missing}", new ConfigLoadOptions { CheckFiles = false });

        Assert.True(result.Ok, string.Join("\n", result.Errors));
    }
}
