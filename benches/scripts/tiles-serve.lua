-- wrk script of benches/scripts/tiles-serve.sh: cycles through the tile paths listed
-- in the file named by the PATHS environment variable, asking for gzip.
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "gzip" })
end
