using LoRAQueue.History;

namespace LoRAQueue.Gateway.Adapters;

/// <summary>
/// Puts a complete uploaded directory at <c>{store}/{id}</c> and registers it, or leaves the store as it was. Every step is a
/// rename inside the store (atomic on one file system). A re-upload moves the old directory aside first and deletes it only
/// once the new one is registered; if registration fails (a rejected adapter, the database down), the new directory goes back
/// to staging and the old one back in place, so the registry's record and the files still agree.
/// </summary>
internal static class AdapterStoreCommit
{
    // Commits of one id in this process take turns (striped: a bounded set of locks for any number of ids). A gateway
    // replica sharing the store does not take part; the registry's own upsert still keeps the record consistent.
    private static readonly SemaphoreSlim[] Turns = [.. Enumerable.Range(0, 32).Select(_ => new SemaphoreSlim(1, 1))];

    public static async Task<AdapterRecord> CommitAsync(string store, string staged, string id, Func<Task<AdapterRecord>> register,
                                                        ILogger logger)
    {
        var turn = Turns[(int)((uint)StringComparer.Ordinal.GetHashCode(id) % (uint)Turns.Length)];
        await turn.WaitAsync();
        try
        {
            string target = Path.Combine(store, id);
            string? aside = null;
            if (Directory.Exists(target))
            {
                aside = Path.Combine(store, $".replaced-{Guid.NewGuid():N}");
                Directory.Move(target, aside);
            }
            try
            {
                Directory.Move(staged, target);
                var record = await register();
                if (aside is not null) DeleteQuietly(aside, logger);
                return record;
            }
            catch
            {
                Restore(target, staged, aside, logger);
                throw;
            }
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>Registration recorded nothing: the new files back to staging (the caller deletes it), the old ones back in place.</summary>
    private static void Restore(string target, string staged, string? aside, ILogger logger)
    {
        try
        {
            if (!Directory.Exists(staged) && Directory.Exists(target)) Directory.Move(target, staged);
            if (aside is not null) Directory.Move(aside, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogError(e, "Could not put adapter store directory {Target} back as it was (previous version at {Aside})", target, aside);
        }
    }

    public static void DeleteQuietly(string directory, ILogger logger)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Could not delete {Directory} from the adapter store: {Message}", directory, e.Message);
        }
    }
}
