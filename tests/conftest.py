import matplotlib
from threadpoolctl import threadpool_limits

matplotlib.use("Agg")

# pytest-xdist runs one worker per core: single-threaded BLAS in each avoids oversubscription
# (multithreaded BLAS makes the many small triangular solves of the tests much slower).
threadpool_limits(1)
