namespace Bastion.Pki;

/// <summary>A CA operation that cannot be done, with a message that says what to do instead.</summary>
public sealed class PkiException(string message) : Exception(message);
