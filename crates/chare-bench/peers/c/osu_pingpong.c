/*
 * The raw MPI floor for chare-bench: OSU-style ping-pong latency and windowed
 * bandwidth in plain C MPI, timed exactly as chare-bench's other models.
 *
 *   mpirun -np 2 osu_pingpong latency   WINDOW RUNS SIZE:ITERS:WARMUP ...
 *   mpirun -np 2 osu_pingpong bandwidth WINDOW RUNS SIZE:ITERS:WARMUP ...
 *   mpirun -np 2 osu_pingpong latency-am|bandwidth-am WINDOW RUNS SIZE:ITERS:WARMUP ...
 *
 * For every step and run, rank 0 prints one line `SIZE,ITERS,ELAPSED_S`;
 * chare-bench computes the metrics (WINDOW is ignored for latency).
 * Latency: blocking MPI_Send/MPI_Recv ping-pong, MPI_Barrier after warm-up.
 * Bandwidth: WINDOW MPI_Isend + MPI_Waitall, then a 4-byte ack (receiver:
 * WINDOW MPI_Irecv + MPI_Waitall + MPI_Send(ack)). As in OSU's osu_bw, all
 * sends of a window read one send buffer and all receives write one receive
 * buffer (64 distinct 1 MiB buffers would not fit in the caches and would
 * measure memory bandwidth instead).
 *
 * The `-am` kinds ("active messages") are the floor of a message-driven
 * runtime on MPI, which cannot know what arrives next: each rank keeps one
 * receive posted (MPI_Irecv from any source, any tag, into a buffer of the
 * largest size) and polls it with MPI_Test, posting it again after each
 * message; sends are MPI_Isend, tested once and completed before the send
 * buffer is reused. Those are the MPI calls the chare runtime's MPI layer
 * makes per message, without any of its own work.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void touch(const volatile unsigned char *buf, size_t n) {
    if (n > 0) {
        (void)buf[0];
        (void)buf[n - 1];
    }
}

static double latency(int rank, size_t size, long iters, long warmup, unsigned char *buf) {
    double t0 = 0.0;
    for (long i = 0; i < warmup + iters; i++) {
        if (i == warmup) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
        }
        if (rank == 0) {
            MPI_Send(buf, (int)size, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)size, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            touch(buf, size);
        } else {
            MPI_Recv(buf, (int)size, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            touch(buf, size);
            MPI_Send(buf, (int)size, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
        }
    }
    return MPI_Wtime() - t0;
}

static double bandwidth(int rank, size_t size, long iters, long warmup, int window,
                        unsigned char *buf, MPI_Request *reqs) {
    double t0 = 0.0;
    unsigned char ack[4] = {0, 0, 0, 0};
    for (long i = 0; i < warmup + iters; i++) {
        if (i == warmup) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
        }
        if (rank == 0) {
            for (int w = 0; w < window; w++)
                MPI_Isend(buf, (int)size, MPI_BYTE, 1, 100, MPI_COMM_WORLD, &reqs[w]);
            MPI_Waitall(window, reqs, MPI_STATUSES_IGNORE);
            MPI_Recv(ack, 4, MPI_BYTE, 1, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            for (int w = 0; w < window; w++)
                MPI_Irecv(buf, (int)size, MPI_BYTE, 0, 100, MPI_COMM_WORLD, &reqs[w]);
            MPI_Waitall(window, reqs, MPI_STATUSES_IGNORE);
            touch(buf, size);
            MPI_Send(ack, 4, MPI_BYTE, 0, 101, MPI_COMM_WORLD);
        }
    }
    return MPI_Wtime() - t0;
}

/* One posted any-source receive, polled. */
typedef struct {
    MPI_Request req;
    unsigned char *buf;
    int cap;
} posted_t;

static void post(posted_t *p) {
    MPI_Irecv(p->buf, p->cap, MPI_BYTE, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &p->req);
}

/* Polls until a message arrived, then posts the receive again. */
static void poll_one(posted_t *p, size_t size) {
    int flag = 0;
    while (!flag) MPI_Test(&p->req, &flag, MPI_STATUS_IGNORE);
    touch(p->buf, size);
    post(p);
}

/* An MPI_Isend tested once; completed before its buffer is reused. */
static void send_am(const unsigned char *buf, int size, int to, MPI_Request *sreq) {
    int flag = 0;
    if (*sreq != MPI_REQUEST_NULL) MPI_Wait(sreq, MPI_STATUS_IGNORE);
    MPI_Isend(buf, size, MPI_BYTE, to, 0, MPI_COMM_WORLD, sreq);
    MPI_Test(sreq, &flag, MPI_STATUS_IGNORE);
}

static double latency_am(int rank, size_t size, long iters, long warmup, unsigned char *buf, posted_t *p) {
    double t0 = 0.0;
    MPI_Request sreq = MPI_REQUEST_NULL;
    for (long i = 0; i < warmup + iters; i++) {
        if (i == warmup) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
        }
        if (rank == 0) {
            send_am(buf, (int)size, 1, &sreq);
            poll_one(p, size);
        } else {
            poll_one(p, size);
            send_am(buf, (int)size, 0, &sreq);
        }
    }
    if (sreq != MPI_REQUEST_NULL) MPI_Wait(&sreq, MPI_STATUS_IGNORE);
    return MPI_Wtime() - t0;
}

static double bandwidth_am(int rank, size_t size, long iters, long warmup, int window, unsigned char *buf,
                           MPI_Request *reqs, posted_t *p) {
    double t0 = 0.0;
    unsigned char ack[4] = {0, 0, 0, 0};
    MPI_Request sreq = MPI_REQUEST_NULL;
    for (long i = 0; i < warmup + iters; i++) {
        if (i == warmup) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
        }
        if (rank == 0) {
            for (int w = 0; w < window; w++) {
                int flag = 0;
                MPI_Isend(buf, (int)size, MPI_BYTE, 1, 0, MPI_COMM_WORLD, &reqs[w]);
                MPI_Test(&reqs[w], &flag, MPI_STATUS_IGNORE);
            }
            poll_one(p, 4);
            MPI_Waitall(window, reqs, MPI_STATUSES_IGNORE);
        } else {
            for (int w = 0; w < window; w++) poll_one(p, size);
            send_am(ack, 4, 0, &sreq);
        }
    }
    if (sreq != MPI_REQUEST_NULL) MPI_Wait(&sreq, MPI_STATUS_IGNORE);
    return MPI_Wtime() - t0;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, nranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    int am = argc >= 2 && (strcmp(argv[1], "latency-am") == 0 || strcmp(argv[1], "bandwidth-am") == 0);
    if (argc < 4 || nranks != 2 ||
        (strcmp(argv[1], "latency") != 0 && strcmp(argv[1], "bandwidth") != 0 && !am)) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np 2 %s latency|bandwidth[-am] WINDOW RUNS SIZE:ITERS:WARMUP...\n",
                    argv[0]);
        MPI_Finalize();
        return 2;
    }
    int is_bw = strncmp(argv[1], "bandwidth", 9) == 0;
    int window = atoi(argv[2]);
    int runs = atoi(argv[3]);
    if (window < 1 || runs < 1) {
        if (rank == 0) fprintf(stderr, "osu_pingpong: WINDOW and RUNS must be positive\n");
        MPI_Finalize();
        return 2;
    }
    MPI_Request *reqs = malloc(sizeof(MPI_Request) * (size_t)window);
    for (int a = 4; a < argc; a++) {
        size_t size;
        long iters, warmup;
        if (sscanf(argv[a], "%zu:%ld:%ld", &size, &iters, &warmup) != 3 || size == 0 || iters < 1 ||
            warmup < 0) {
            if (rank == 0) fprintf(stderr, "osu_pingpong: bad step `%s`\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        unsigned char *buf = malloc(size);
        memset(buf, 1, size);
        posted_t p = {MPI_REQUEST_NULL, NULL, (int)(size < 4 ? 4 : size)};
        if (am) {
            p.buf = malloc((size_t)p.cap);
            post(&p);
        }
        for (int r = 0; r < runs; r++) {
            double t;
            if (am)
                t = is_bw ? bandwidth_am(rank, size, iters, warmup, window, buf, reqs, &p)
                          : latency_am(rank, size, iters, warmup, buf, &p);
            else
                t = is_bw ? bandwidth(rank, size, iters, warmup, window, buf, reqs)
                          : latency(rank, size, iters, warmup, buf);
            if (rank == 0) printf("%zu,%ld,%.9f\n", size, iters, t);
        }
        if (am) {
            MPI_Cancel(&p.req);
            MPI_Wait(&p.req, MPI_STATUS_IGNORE);
            free(p.buf);
            /* Both ranks' receives of this size are gone before either posts
               the next size's and sends: else a message of the next size can
               match the peer's old, shorter receive (MPI_ERR_TRUNCATE). */
            MPI_Barrier(MPI_COMM_WORLD);
        }
        free(buf);
    }
    fflush(stdout);
    free(reqs);
    MPI_Finalize();
    return 0;
}
