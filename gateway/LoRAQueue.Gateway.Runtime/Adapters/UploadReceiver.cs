using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace LoRAQueue.Gateway.Adapters;

/// <summary>
/// Streams a multipart/form-data adapter upload into a staging directory with ASP.NET Core's <see cref="MultipartReader"/>:
/// each file part is copied to its own file as it arrives, its bytes counted against the upload limit (Kestrel bounds the
/// whole body as well). Refusals are <see cref="RequestException"/>s: 400 for a malformed form, a bad or repeated file name or
/// a missing file; 413 past the limit. <see cref="MultipartReader"/> is used directly rather than ReadFormAsync, so
/// FormOptions' 128 MB multipart limit does not apply and nothing is buffered.
/// </summary>
internal sealed class UploadReceiver(string staging, long limit, Func<string, Task> checkId)
{
    private readonly HashSet<string> _names = new(StringComparer.OrdinalIgnoreCase); // one file per name on any file system
    private readonly List<string> _files = [];
    private readonly byte[] _buffer = new byte[81920];
    private readonly string _staging = Path.TrimEndingDirectorySeparator(Path.GetFullPath(staging));
    private long _bytes;
    private string? _id;

    public async Task<ReceivedUpload> ReceiveAsync(HttpRequest request, CancellationToken ct)
    {
        var reader = new MultipartReader(AdapterUpload.Boundary(request.ContentType), request.Body);
        Directory.CreateDirectory(_staging);
        while (await ReadAsync(reader.ReadNextSectionAsync(ct)) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase))
                throw Invalid("every part needs Content-Disposition: form-data with a name, and a filename for a file");
            if (disposition.IsFileDisposition()) await ReceiveFileAsync(disposition, section.Body, ct);
            else await ReceiveFieldAsync(HeaderUtilities.RemoveQuotes(disposition.Name).ToString(), section.Body, ct);
        }
        if (_id is null) throw Invalid("id is required: a form field with the adapter's id");
        var missing = AdapterUpload.RequiredFiles.Where(f => !_files.Contains(f, StringComparer.Ordinal)).ToList();
        if (missing.Count > 0)
            throw Invalid($"the upload has no {string.Join(" and no ", missing)}: an adapter needs {string.Join(" and ", AdapterUpload.RequiredFiles)}");
        return new ReceivedUpload(_id, _files, _bytes);
    }

    private async Task ReceiveFieldAsync(string name, Stream body, CancellationToken ct)
    {
        if (name != "id")
            throw Invalid($"unknown form field '{name}': send the field id and the adapter's files as file parts (each with a filename)");
        if (_id is not null) throw Invalid("the id field is sent twice");
        _id = await ReadAsync(AdapterUpload.ReadFieldAsync(body, ct));
        await checkId(_id);
    }

    private async Task ReceiveFileAsync(ContentDispositionHeaderValue disposition, Stream body, CancellationToken ct)
    {
        // filename* (RFC 5987) is decoded by the parser; a plain filename may still be quoted.
        string name = disposition.FileNameStar.HasValue ? disposition.FileNameStar.ToString() : HeaderUtilities.RemoveQuotes(disposition.FileName).ToString();
        if (AdapterUpload.FileNameProblem(name) is { } problem) throw Invalid(problem);
        if (!_names.Add(name)) throw Invalid($"file '{name}' is sent twice");
        if (_files.Count == AdapterUpload.MaxFiles) throw Invalid($"an adapter upload has at most {AdapterUpload.MaxFiles} files");
        string path = Path.GetFullPath(Path.Combine(_staging, name));
        if (Path.GetDirectoryName(path) != _staging) throw Invalid($"file name '{name}' is not a plain file name"); // belt and braces
        _files.Add(name);
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        int read;
        while ((read = await ReadAsync(body.ReadAsync(_buffer, ct).AsTask())) > 0)
        {
            _bytes += read;
            if (_bytes > limit) throw new RequestException(Problems.UploadTooLarge(limit));
            await file.WriteAsync(_buffer.AsMemory(0, read), ct);
        }
        file.Flush(flushToDisk: true); // the registered digest vouches for these bytes: on disk before the directory is moved in
    }

    /// <summary>A read of the request body: past Kestrel's limit is 413, a malformed or cut-off body 400. Only reads are
    /// wrapped, so a file-system error while writing stays a server error.</summary>
    private async Task<T> ReadAsync<T>(Task<T> read)
    {
        try
        {
            return await read;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new RequestException(Problems.UploadTooLarge(limit));
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw Invalid($"the multipart body could not be read: {e.Message}");
        }
    }

    private static RequestException Invalid(string detail) => new(Problems.InvalidRequest(detail));
}
