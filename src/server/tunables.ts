// The settings memcached's operator commands change at run time (`slabs
// automove`, `lru tune|mode|temp_ttl`, `lru_crawler enable|disable|sleep|
// tocrawl`, `extstore …`). Most steer machinery we do not have (slab page
// mover, segmented LRU, external storage): they are kept so that `stats
// settings` shows what was asked, as memcached's does. Starts at memcached
// 1.6.18's defaults.

export class Tunables {
  slabAutomove = 1
  slabAutomoveRatio = 0.8
  /** The LRU crawler runs (`lru_crawler disable` stops `crawl` and `metadump`; -o no_lru_crawler starts without it). */
  lruCrawler: boolean
  lruCrawlerSleep = 100
  lruCrawlerTocrawl = 0
  lruSegmented = true
  hotLruPct = 20
  warmLruPct = 40
  hotMaxFactor = 0.2
  warmMaxFactor = 2
  tempLru = false
  temporaryTtl = 61
  extItemSize = 512
  extItemAge = 4294967295
  extLowTtl = 0
  extRecacheRate = 2000
  extCompactUnder = 0
  extDropUnder = 0
  extMaxSleep = 1000000
  extMaxFrag = 0.8
  extDropUnread = false

  constructor(lruCrawlerAtStart: boolean) {
    this.lruCrawler = lruCrawlerAtStart
  }
}
