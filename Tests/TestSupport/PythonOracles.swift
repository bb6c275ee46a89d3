/// Python source of the reference's code, shared by tests that use it as an oracle.
public enum PythonOracles {
    /// The reference's `compute_metrics(x)` (from its evaluation scripts), verbatim, returning
    /// the metrics dictionary; `compute_metrics_with_count` also returns `len(ind)`.
    public static let computeMetrics = """
    import numpy as np

    def compute_metrics_with_count(x):
        sx = np.sort(-x, axis=1)
        d = np.diag(-x)
        d = d[:, np.newaxis]
        ind = sx - d
        ind = np.where(ind == 0)
        ind = ind[1]
        metrics = {}
        metrics['R1'] = float(np.sum(ind == 0)) / len(ind)
        metrics['R5'] = float(np.sum(ind < 5)) / len(ind)
        metrics['R10'] = float(np.sum(ind < 10)) / len(ind)
        metrics['MR'] = np.median(ind) + 1
        return metrics, len(ind)

    def compute_metrics(x):
        return compute_metrics_with_count(x)[0]

    """
}
